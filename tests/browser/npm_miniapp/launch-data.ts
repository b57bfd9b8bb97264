// Type check (tsc --noEmit, tests/browser/bridge_support.py typecheck_npm_miniapp): the official
// SDK's types accept marketbox's init data with the extra `public.signedLaunchData` field, and a
// mini-app reads it from getInitialData() through a widened type, nothing else changed.
import { invoiceboxMinapp } from '@invoicebox/minapp-sdk';
import type { TInitMessageFrom } from '@invoicebox/minapp-sdk';

type SdkPublic = TInitMessageFrom['data']['public'];

/** What `getInitialData()` resolves with in a marketbox host. */
export type MarketboxPublic = SdkPublic & { signedLaunchData?: string };

// The host's `init` replies, as marketbox sends them (both modes), are the SDK's message type.
const orderReply = {
  id: 'F1',
  action: 'init' as const,
  data: {
    public: {
      shopId: 42,
      userEmail: 'anna@example.org',
      userName: 'Анна Смирнова',
      userPhone: '+79005556677',
      locale: 'ru',
      minappType: 'order' as const,
      fullHeight: true as const,
      signedLaunchData: 'authDate=1796645400&fullHeight=true&hash=…',
    },
    private: { metaData: [] },
  },
};
const suborderReply = {
  id: 'F2',
  action: 'init' as const,
  data: {
    public: {
      shopId: 42,
      userEmail: '',
      userName: '',
      userPhone: '',
      locale: 'en',
      minappType: 'suborder' as const,
      orderContainerId: '0190f0a1-0000-7000-8000-0000000000c1',
      fullHeight: false as const,
      signedLaunchData: 'authDate=1796645400&fullHeight=false&hash=…',
    },
    private: { metaData: [{ iataCode: 'SVO' }] },
  },
};
export const replies: TInitMessageFrom[] = [orderReply, suborderReply];

/** The signed launch data, to forward verbatim to the mini-app's backend. */
export async function signedLaunchData(): Promise<string | undefined> {
  const data: MarketboxPublic = await invoiceboxMinapp.getInitialData();
  return data.signedLaunchData;
}
