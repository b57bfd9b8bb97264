"""The container `metaData` samples the playground offers (JSON-LD, as an airline, a railway or
a hotel would put on its order): a suborder mini-app matches its offer against them
(spec/miniapps.md §5)."""

from __future__ import annotations

from typing import Any


def flight(reservation_id: str, passenger: str) -> dict[str, Any]:
    """A one-segment flight SVO → LED (payments.md §9.1's example), booked for `passenger`:
    the playground's sample and the demo's flight invoice (cli/demo.py)."""
    return {
        "@type": "ReservationPackage",
        "subReservation": [
            {
                "@type": "FlightReservation",
                "reservationId": reservation_id,
                "underName": {"@type": "Person", "name": passenger},
                "reservationFor": {
                    "@type": "Flight",
                    "flightNumber": "SU1234",
                    "provider": {"@type": "Airline", "name": "Aeroflot", "iataCode": "SU"},
                    "departureAirport": {
                        "@type": "Airport",
                        "name": "Moscow Sheremetyevo",
                        "iataCode": "SVO",
                    },
                    "departureTime": "2030-08-01T10:00:00+03:00",
                    "arrivalAirport": {
                        "@type": "Airport",
                        "name": "Saint Petersburg Pulkovo",
                        "iataCode": "LED",
                    },
                    "arrivalTime": "2030-08-01T11:30:00+03:00",
                },
            }
        ],
    }


FLIGHT = flight("PG1234", "Anna Smirnova")

RAIL: dict[str, Any] = {
    "@type": "TrainReservation",
    "reservationId": "RZD-7781",
    "underName": {"@type": "Person", "name": "Anna Smirnova"},
    "reservationFor": {
        "@type": "TrainTrip",
        "trainNumber": "752А",
        "trainName": "Сапсан",
        "departureStation": {"@type": "TrainStation", "name": "Москва Ленинградская"},
        "departureTime": "2030-08-01T07:00:00+03:00",
        "arrivalStation": {"@type": "TrainStation", "name": "Санкт-Петербург Главный"},
        "arrivalTime": "2030-08-01T10:55:00+03:00",
    },
    "reservedTicket": {"@type": "Ticket", "ticketedSeat": {"seatNumber": "12", "seatRow": "5"}},
}

LODGING: dict[str, Any] = {
    "@type": "LodgingReservation",
    "reservationId": "HTL-5521",
    "underName": {"@type": "Person", "name": "Anna Smirnova"},
    "reservationFor": {
        "@type": "LodgingBusiness",
        "name": "Гостиница «Невский»",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": "Невский проспект, 1",
            "addressLocality": "Санкт-Петербург",
            "addressCountry": "RU",
        },
    },
    "checkinTime": "2030-08-01T14:00:00+03:00",
    "checkoutTime": "2030-08-03T12:00:00+03:00",
    "numAdults": 1,
}

SAMPLES: dict[str, dict[str, Any]] = {"flight": FLIGHT, "rail": RAIL, "lodging": LODGING}
DEFAULT_SAMPLE = "flight"
