"""The scripted day (`data/day.yaml`): products, receiving, acts on a clock, and the
scenarios each emulator plays."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

MODBUS_SPEED = 60.0  # the fridges' physics runs a minute per second


class Day:
    def __init__(self, data: dict[str, Any], speed: float) -> None:
        self.data = data
        self.speed = speed
        self.site = str(data["site"])
        self.products = {k: dict(v) for k, v in data["products"].items()}
        self.names: dict[str, str] = {str(v["gtin"]): k for k, v in self.products.items()}
        self.acts = sorted(data["acts"], key=lambda a: float(a["at"]))
        # how many the day's purchase order brings: the overnight proposal's order quantity
        # (the items of a cart with `count: ordered`)
        self.ordered = 0

    def at(self, act: dict[str, Any]) -> float:
        return float(act["at"]) / self.speed

    def gtin(self, product: str) -> str:
        return str(self.products[product]["gtin"])

    def items(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "gtin": self.gtin(i["product"]),
                "first_serial": i["first_serial"],
                "count": self.ordered if i["count"] == "ordered" else i["count"],
            }
            for i in specs
        ]

    def receipt(self, today: date) -> list[Any]:
        from central.ledger import ReceiptLine
        from readers.gate_stream import make_epcs
        from rules.epc import decode

        lines = []
        for r in self.data["receiving"]:
            for item in self.items([r]):
                for epc in make_epcs(item["gtin"], item["first_serial"], item["count"], 7):
                    lines.append(
                        ReceiptLine(
                            epc=decode(epc).uri,
                            gtin=item["gtin"],
                            lot=str(r["lot"]),
                            expiry=today + timedelta(days=int(r["expiry_days"])),
                            location=f"{self.site}/{r['location']}",
                        )
                    )
        return lines

    def llrp_scenario(self, portal: str) -> dict[str, Any]:
        events = [
            {
                "at": self.at(a),
                "cart": {
                    "direction": a["cart"]["direction"],
                    "inside": [1, 2],
                    "outside": [3, 4],
                    "duration": 2.0,
                    "items": self.items(a["cart"]["items"]),
                },
            }
            for a in self.acts
            if a.get("portal") == portal
        ]
        return {"seed": 7, "reader": {"antennas": 4}, "events": events}

    def cabinet_scenario(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        for a in self.acts:
            if "cabinet" not in a:
                continue
            steps.append({"at": self.at(a)})
            for given in a["cabinet"]:
                step = dict(given)
                if "product" in step:
                    step["gtin"] = self.gtin(step.pop("product"))
                steps.append(step)
        shelves = {int(k): self.items(v) for k, v in self.data["cabinet"].items()}
        return {"protocol": "feig", "seed": 3, "shelves": shelves, "steps": steps}

    def modbus_scenario(self) -> dict[str, Any]:
        fridges = {1: {"device_id": 1, "profile": "xy-md02", "behaviour": "normal"},
                   2: {"device_id": 2, "profile": "xy-md02", "behaviour": "normal"}}  # fmt: skip
        for a in self.acts:
            if "fridge" in a:
                f = a["fridge"]
                fridges[int(f["device_id"])] |= {
                    "behaviour": f["behaviour"],
                    "at_s": self.at(a) * MODBUS_SPEED,
                }
        return {"fridges": list(fridges.values())}


# --- what happens, readable --------------------------------------------------------------
