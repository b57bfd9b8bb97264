/**
 * The selection screen of a service (lounge, taxi, coffee), in both mini-app modes.
 *
 *   skeleton (first HTML) → init + catalogue in parallel →
 *     suborder: matchMetaDataValues("iataCode", airports) → no: onUnavailable()
 *               getMetaDataValues(["flightNumber", "departureTime"]) → flight chips
 *   → cells with radios and steppers, live total, amount button
 *   → POST /api/orders → onDone(paymentUrl)   (or onError() when it fails)
 */
import {
  ICONS,
  config,
  connectHost,
  fetchJson,
  finish,
  formatLocalTime,
  formatMoney,
  getLocale,
  h,
  reportError,
  routeLinks,
  setLocale,
  shiftLocalTime,
  showView,
  t,
  toMinor,
  tr,
  trackHeight,
} from './common.js';

const PICKUP_HOURS_BEFORE = 3;

async function loadCatalogue() {
  const payload = await fetchJson(`/api/catalog/${encodeURIComponent(config.service)}`);
  return payload.data;
}

function errorView(text) {
  showView(
    h('div', { class: 'status' },
      h('div', { class: 'status__icon status__icon--fail', 'aria-hidden': 'true', html: ICONS.cross }),
      h('h1', { class: 'status__title' }, text),
      h('div', { class: 'status__actions' },
        h('button', { type: 'button', class: 'btn btn--secondary', onclick: () => window.location.reload() }, t('retry')),
      ),
    ),
  );
}

/** What the invoice tells us about the trip (suborder mode only). */
async function readTrip(client, airports) {
  const values = await client.getMetaDataValues(['flightNumber', 'departureTime']);
  const isTime = (v) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v);
  const flightNumber = values.find((v) => typeof v === 'string' && !isTime(v)) ?? null;
  const departureTime = values.find(isTime) ?? null;
  // The taxi goes to the departure airport: prefer it over any other iataCode in the trip.
  const departures = await client.getMetaDataValues('departureAirport');
  const codes = [
    ...departures.map((a) => a?.iataCode),
    ...(await client.getMetaDataValues('iataCode')),
  ];
  const airport = codes.find((code) => airports.includes(code)) ?? null;
  return { flightNumber, departureTime, airport };
}

function stepper({ name, value, min, max, onChange }) {
  const output = h('output', { class: 'stepper__value num', 'aria-live': 'polite' }, String(value));
  const minus = h('button', { type: 'button', class: 'stepper__btn', 'aria-label': t('decrease', { name }) }, '−');
  const plus = h('button', { type: 'button', class: 'stepper__btn', 'aria-label': t('increase', { name }) }, '+');
  const sync = () => {
    output.textContent = String(value);
    minus.disabled = value <= min;
    plus.disabled = value >= max;
  };
  minus.addEventListener('click', () => {
    if (value > min) onChange((value -= 1));
    sync();
  });
  plus.addEventListener('click', () => {
    if (value < max) onChange((value += 1));
    sync();
  });
  sync();
  return h('div', { class: 'stepper' }, minus, output, plus);
}

function renderSelection(host, catalogue, trip) {
  const mode = host.init.minappType === 'suborder' ? 'suborder' : 'order';
  const quantities = new Map(); // sku -> quantity
  const prices = new Map(); // sku -> kopecks
  const radios = new Map(); // group id -> {sku, quantity}

  for (const group of catalogue.groups) {
    for (const option of group.options) {
      prices.set(option.sku, toMinor(option.price));
      if (group.kind === 'stepper') quantities.set(option.sku, option.min);
    }
    if (group.kind === 'radio') radios.set(group.id, { sku: group.default, quantity: group.quantity.min });
  }

  const items = () => {
    const list = [];
    for (const { sku, quantity } of radios.values()) list.push({ sku, quantity });
    for (const [sku, quantity] of quantities) if (quantity > 0) list.push({ sku, quantity });
    return list;
  };
  const totalMinor = () => items().reduce((sum, item) => sum + prices.get(item.sku) * item.quantity, 0);

  const totalValue = h('span', { class: 'summary__amount num' });
  const buttonAmount = h('span', { class: 'btn__amount num' });
  const button = h('button', { type: 'submit', class: 'btn btn--primary btn--amount' },
    h('span', { class: 'btn__label' }, t(mode === 'suborder' ? 'suborderButton' : 'orderButton')),
    buttonAmount,
    h('span', { class: 'btn__loader', 'aria-hidden': 'true' }),
  );
  const hint = h('p', { class: 'caption hint', hidden: true }, t('chooseSomething'));
  const banner = h('div', { class: 'form-banner', hidden: true });

  const update = () => {
    const total = totalMinor();
    totalValue.textContent = formatMoney(total);
    buttonAmount.textContent = formatMoney(total);
    button.disabled = total <= 0;
    hint.hidden = total > 0;
  };

  const groups = catalogue.groups.map((group) => {
    if (group.kind === 'radio') {
      const cells = group.options.map((option) =>
        h('label', { class: 'cell cell--choice' },
          h('input', {
            type: 'radio',
            class: 'radio',
            name: `group-${group.id}`,
            value: option.sku,
            checked: radios.get(group.id).sku === option.sku,
            onchange: () => {
              radios.get(group.id).sku = option.sku;
              update();
            },
          }),
          h('span', { class: 'cell__content' },
            h('span', { class: 'cell__title' }, tr(option.name)),
            option.description && h('span', { class: 'cell__subtitle' }, tr(option.description)),
          ),
          h('span', { class: 'cell__value num' }, formatMoney(toMinor(option.price))),
        ),
      );
      const q = group.quantity;
      const quantityCell = q.max > q.min
        ? h('div', { class: 'cell' },
            h('span', { class: 'cell__content' }, h('span', { class: 'cell__title' }, tr(q.label))),
            stepper({
              name: tr(q.label),
              value: radios.get(group.id).quantity,
              min: q.min,
              max: q.max,
              onChange: (value) => {
                radios.get(group.id).quantity = value;
                update();
              },
            }),
          )
        : null;
      return h('fieldset', { class: 'group' },
        h('legend', { class: 'group__title' }, tr(group.title)),
        h('div', { class: 'cells' }, cells, quantityCell),
      );
    }
    const cells = group.options.map((option) =>
      h('div', { class: 'cell' },
        h('span', { class: 'cell__content' },
          h('span', { class: 'cell__title' }, tr(option.name)),
          h('span', { class: 'cell__subtitle' },
            [tr(option.description), formatMoney(toMinor(option.price))].filter(Boolean).join(' · ')),
        ),
        stepper({
          name: tr(option.name),
          value: quantities.get(option.sku),
          min: option.min,
          max: option.max,
          onChange: (value) => {
            quantities.set(option.sku, value);
            update();
          },
        }),
      ),
    );
    return h('section', { class: 'group' },
      h('h2', { class: 'group__title' }, tr(group.title)),
      h('div', { class: 'cells' }, cells),
    );
  });

  const tripChips = trip && (trip.flightNumber || trip.departureTime || trip.airport)
    ? h('ul', { class: 'chips-column' },
        h('li', { class: 'chips-column__row' },
          h('span', { class: 'chip chip--icon', 'aria-hidden': 'true', html: ICONS.plane }),
          h('span', {},
            [
              trip.flightNumber && t('flight', { number: trip.flightNumber }),
              trip.departureTime && t('departure', { time: formatLocalTime(trip.departureTime) }),
              trip.airport,
            ].filter(Boolean).join(', '),
          ),
        ),
        catalogue.service === 'taxi' && trip.departureTime
          ? h('li', { class: 'chips-column__row' },
              h('span', { class: 'chip' }, '1'),
              h('span', {}, t('pickup', {
                time: formatLocalTime(shiftLocalTime(trip.departureTime, PICKUP_HOURS_BEFORE), { date: false }),
              })),
            )
          : null,
      )
    : null;

  const rate = catalogue.vatCode.replace(/^RUS_VAT|_ADDED$/g, '');
  const form = h('form', { class: 'selection', novalidate: true },
    h('header', { class: 'title-block' },
      h('h1', { class: 'title-block__title' }, tr(catalogue.title)),
      h('p', { class: 'title-block__subtitle' }, tr(catalogue.subtitle)),
    ),
    tripChips,
    groups,
    h('div', { class: 'actions' },
      h('div', { class: 'summary', 'aria-live': 'polite' },
        h('span', { class: 'summary__label' }, t('total')),
        totalValue,
      ),
      /^\d+$/.test(rate) && rate !== '0' ? h('p', { class: 'caption' }, t('vatIncluded', { rate })) : null,
      hint,
      banner,
      button,
      h('p', { class: 'caption consent' },
        `${t('consent')} `,
        h('a', { href: `${config.base}/terms`, 'data-external': true, target: '_blank', rel: 'noopener' }, t('terms')),
      ),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.getAttribute('aria-busy') === 'true' || totalMinor() <= 0) return;
    button.setAttribute('aria-busy', 'true');
    button.disabled = true;
    banner.hidden = true;
    const init = host.init;
    const shopId = Number.parseInt(init.shopId, 10);
    const payload = {
      service: catalogue.service,
      items: items(),
      locale: getLocale(),
      shopId: Number.isFinite(shopId) ? shopId : null,
      orderContainerId: mode === 'suborder' ? init.orderContainerId || null : null,
      customer: { name: init.userName || null, email: init.userEmail || null, phone: init.userPhone || null },
      flight: trip ? { number: trip.flightNumber, airport: trip.airport } : null,
      // Verbatim: the backend trusts only what the platform signed (demo_shop/launch.py).
      signedLaunchData: init.signedLaunchData || null,
    };
    try {
      const result = await fetchJson('/api/orders', { method: 'POST', body: JSON.stringify(payload) });
      finish(host, result.data.url);
      if (mode === 'suborder' && host.framed) {
        showView(
          h('div', { class: 'status status--compact' },
            h('div', { class: 'status__icon status__icon--ok', 'aria-hidden': 'true', html: ICONS.check }),
            h('p', { class: 'status__title', role: 'status' }, t('added')),
          ),
        );
      } else {
        button.querySelector('.btn__label').textContent = t('redirecting');
      }
    } catch (error) {
      button.removeAttribute('aria-busy');
      button.disabled = false;
      // 403: the launch data did not verify (changed on the way, stale, or none at all).
      reportError(host, error?.status === 403 ? t('launchRefused') : t('orderFailed'), banner);
    }
  });

  update();
  showView(form);
}

async function main() {
  const cataloguePromise = loadCatalogue().catch(() => null);
  let host;
  try {
    host = await connectHost();
  } catch {
    setLocale(navigator.language);
    errorView(t('noHost'));
    return;
  }
  setLocale(host.init.locale);
  trackHeight(host);
  routeLinks(host);
  const catalogue = await cataloguePromise;
  if (!catalogue) {
    reportError(host); // the host shows its default text
    errorView(t('catalogueFailed'));
    return;
  }
  let trip = null;
  if (host.init.minappType === 'suborder') {
    let available = true;
    try {
      available = await host.client.matchMetaDataValues('iataCode', catalogue.airports);
      if (available) trip = await readTrip(host.client, catalogue.airports);
    } catch {
      // As the reference mini-app does: a failing search is not a reason to refuse.
    }
    if (!available) {
      host.client.onUnavailable();
      showView(h('p', { class: 'status__text', role: 'status' }, t('unavailable')));
      return;
    }
  }
  renderSelection(host, catalogue, trip);
}

main();
