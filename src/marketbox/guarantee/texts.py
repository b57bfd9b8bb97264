"""What the guarantee actions say to the shop (`resultNote`) and to the payer (`pay`'s
`resultData.message`), in the request's `languageId` (ru by default)."""

from __future__ import annotations

NOTES: dict[str, dict[str, str]] = {
    "ru": {
        "notRegistered": "Плательщик не подключён к этому способу оплаты",
        "notEnoughMoney": "У плательщика недостаточно средств для оплаты счёта",
        "notDelivered": "Не удалось отправить код плательщику",
        "noSendsLeft": "Код больше нельзя отправить: оплатите счёт на платёжной странице",
        "codeAlreadySent": "Код уже отправлен; новый можно запросить позже",
    },
    "en": {
        "notRegistered": "The payer is not registered with this payment method",
        "notEnoughMoney": "The payer does not have enough money to pay the invoice",
        "notDelivered": "The code could not be delivered to the payer",
        "noSendsLeft": "No more codes can be sent: pay the invoice on the payment page",
        "codeAlreadySent": "A code has been sent; a new one can be requested later",
    },
}

# pay results -> (title, message); {left} is the number of tries left.
MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "ru": {
        "alreadyPaid": ("Счёт уже оплачен", "Повторно оплачивать не нужно."),
        "wrongCode": (
            "Неверный код",
            "Проверьте код и введите его ещё раз. Осталось попыток: {left}.",
        ),
        "limitReached": (
            "Попытки закончились",
            "Код больше не действует. Запросите новый код или оплатите счёт другим способом.",
        ),
        "notEnoughMoney": (
            "Недостаточно средств",
            "Средств плательщика не хватает для оплаты счёта.",
        ),
        "codeExpired": (
            "Код недействителен",
            "Срок действия кода истёк или запрошен новый код. Запросите код ещё раз.",
        ),
        "otherPayer": (
            "Код недействителен",
            "Код был отправлен другому плательщику. Запросите код ещё раз.",
        ),
    },
    "en": {
        "alreadyPaid": ("The invoice is already paid", "There is nothing more to pay."),
        "wrongCode": ("Wrong code", "Check the code and enter it again. Tries left: {left}."),
        "limitReached": (
            "No tries left",
            "This code no longer works. Request a new code or pay another way.",
        ),
        "notEnoughMoney": (
            "Not enough money",
            "The payer does not have enough money to pay the invoice.",
        ),
        "codeExpired": (
            "The code is not valid",
            "The code has expired or a newer one was requested. Request a code again.",
        ),
        "otherPayer": (
            "The code is not valid",
            "The code was sent to another payer. Request a code again.",
        ),
    },
}


def note(language: str, key: str) -> str:
    return NOTES.get(language, NOTES["ru"])[key]


def message(language: str, key: str, **values: object) -> dict[str, str]:
    title, text = MESSAGES.get(language, MESSAGES["ru"])[key]
    return {"title": title, "message": text.format(**values)}
