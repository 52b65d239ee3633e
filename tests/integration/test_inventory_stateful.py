"""A hypothesis state machine over the inventory API (issue 3 tests).

Receipts (with and without expected receipts, serials), transfers, shipments (bundles,
partial and voided labels), stocktakes and returns in any order. After every step:
balances == Σ movements per (SKU, location, batch), no serial is on hand twice,
incoming == open expected quantity, and each SKU's on hand matches a simple model.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.conftest import make_test_app
from tests.helpers import AUTH, assert_ledger_consistent, post_event, shipped_event

PLAIN = ("A", "B")
LOCATIONS = ("DEFAULT", "BULK-1", "PF-1")
KIT = {"A": 2, "B": 1}
SERIALS = ("S1", "S2", "S3")


def test_inventory_invariants_hold_after_every_step(databases, tmp_path):
    class Inventory(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.app = make_test_app(databases.fresh(), tmp_path)
            self.client = self.app.test_client()
            self.engine = self.app.extensions["stockmirror"].db.engine
            self.model: dict[str, int] = {}
            self.expected: dict[str, dict[str, int]] = {}  # PO → sku → outstanding
            self.shipped: dict[int, dict[str, int]] = {}  # order → sku → shipped target
            self.returned: dict[int, dict[str, int]] = {}
            self.clock = 0
            self.n = 0

        def call(self, method: str, path: str, body: Any = None) -> Any:
            return self.client.open(path, method=method, json=body, headers=AUTH)

        def ref(self) -> str:
            self.n += 1
            return f"R{self.n}"

        def add(self, sku: str, qty: int) -> None:
            self.model[sku] = self.model.get(sku, 0) + qty

        @initialize()
        def setup(self) -> None:
            assert (
                self.call("POST", "/api/locations", {"code": "BULK-1", "kind": "bulk"}).status_code
                == 201
            )
            assert (
                self.call(
                    "POST", "/api/locations", {"code": "PF-1", "kind": "pick_face"}
                ).status_code
                == 201
            )
            for body in (
                {
                    "sku": "KIT",
                    "bundle": "exploding",
                    "components": [{"sku": s, "quantity": q} for s, q in KIT.items()],
                },
                {"sku": "CAM", "tracking": "serial"},
            ):
                assert self.call("POST", "/api/products", body).status_code == 201
            self.model = {"A": 0, "B": 0, "KIT": 0, "CAM": 0}  # components exist with the kit

        @rule(
            sku=st.sampled_from(PLAIN),
            qty=st.integers(1, 9),
            loc=st.sampled_from(LOCATIONS),
            po=st.booleans(),
        )
        def receive(self, sku: str, qty: int, loc: str, po: bool) -> None:
            body: dict[str, Any] = {
                "reference": self.ref(),
                "location": loc,
                "lines": [{"sku": sku, "quantity": qty}],
            }
            open_po = next(
                (p for p, lines in self.expected.items() if sku in lines and len(lines) == 1), None
            )
            if po and open_po:
                body["expected_receipt"] = open_po
            response = self.call("POST", "/api/receipts", body)
            assert response.status_code == 201, response.get_json()
            self.add(sku, qty)
            if po and open_po:
                self.expected[open_po][sku] = max(self.expected[open_po][sku] - qty, 0)
                if self.expected[open_po][sku] == 0:
                    del self.expected[open_po]  # fully received: closed

        @rule(sku=st.sampled_from(PLAIN), qty=st.integers(1, 20))
        def expect(self, sku: str, qty: int) -> None:
            reference = f"PO-{self.ref()}"
            body = {"reference": reference, "lines": [{"sku": sku, "quantity": qty}]}
            assert self.call("POST", "/api/expected-receipts", body).status_code == 201
            self.expected[reference] = {sku: qty}

        @rule(serial=st.sampled_from(SERIALS))
        def receive_serial(self, serial: str) -> None:
            body = {
                "reference": self.ref(),
                "lines": [{"sku": "CAM", "quantity": 1, "serials": [serial]}],
            }
            response = self.call("POST", "/api/receipts", body)
            assert response.status_code in (201, 409), response.get_json()
            if response.status_code == 201:
                self.add("CAM", 1)

        @rule(
            sku=st.sampled_from(PLAIN),
            qty=st.integers(1, 5),
            src=st.sampled_from(LOCATIONS),
            dst=st.sampled_from(LOCATIONS),
        )
        def transfer(self, sku: str, qty: int, src: str, dst: str) -> None:
            body = {"sku": sku, "quantity": qty, "from": src, "to": dst, "reference": self.ref()}
            response = self.call("POST", "/api/transfers", body)
            if sku not in self.model:
                assert response.status_code == 422
            else:
                assert response.status_code == (422 if src == dst else 201), response.get_json()

        @rule(
            order=st.integers(1, 4),
            items=st.lists(
                st.tuples(st.sampled_from((*PLAIN, "KIT", "CAM")), st.integers(1, 3)),
                min_size=1,
                max_size=3,
            ),
            part=st.integers(0, 3),
        )
        def ship(self, order: int, items: list[tuple[str, int]], part: int) -> None:
            if order in self.shipped:  # same order again: a newer event, maybe a voided label
                items = [(s, q) for s, q in self.shipped_lines[order]]
            lines = [(s, q, min(part, q)) for s, q in items]
            self.clock += 1
            event = shipped_event(
                f"ev{self.ref()}",
                order,
                lines,
                occurred_at=f"2026-11-20T05:{self.clock // 60:02d}:{self.clock % 60:02d}Z",
            )
            assert post_event(self.client, event).status_code == 200
            target: dict[str, int] = {}
            for s, _, shipped in lines:
                target[s] = target.get(s, 0) + shipped
            before = self.shipped.get(order, {})
            for s in set(target) | set(before):
                delta = target.get(s, 0) - before.get(s, 0)
                for component, per in KIT.items() if s == "KIT" else [(s, 1)]:
                    self.add(component, -delta * per)
            self.shipped[order] = target
            self.shipped_lines = getattr(self, "shipped_lines", {})
            self.shipped_lines.setdefault(order, items)

        @rule(
            order=st.integers(1, 4),
            sku=st.sampled_from((*PLAIN, "KIT", "CAM")),
            qty=st.integers(1, 3),
            damaged=st.booleans(),
        )
        def give_back(self, order: int, sku: str, qty: int, damaged: bool) -> None:
            lines = [
                {"sku": sku, "quantity": qty, "disposition": "damaged" if damaged else "restock"}
            ]
            response = self.call(
                "POST", f"/api/orders/{order}/returns", {"reference": self.ref(), "lines": lines}
            )
            shipped = self.shipped.get(order, {}).get(sku, 0)
            already = self.returned.get(order, {}).get(sku, 0)
            if order not in self.shipped:
                assert response.status_code == 404
                return
            if qty + already > shipped:
                assert response.status_code == 422, response.get_json()
                return
            assert response.status_code in (201, 409), (
                response.get_json()
            )  # 409: serial back on hand
            if response.status_code == 201:
                self.returned.setdefault(order, {})[sku] = already + qty
                for component, per in KIT.items() if sku == "KIT" else [(sku, 1)]:
                    self.add(component, qty * per)

        @rule(
            sku=st.sampled_from(PLAIN), loc=st.sampled_from(LOCATIONS), counted=st.integers(0, 12)
        )
        def stocktake(self, sku: str, loc: str, counted: int) -> None:
            opened = self.call("POST", "/api/stocktakes", {"location": loc, "skus": [sku]})
            assert opened.status_code == 201
            book = sum(ln["book"] for ln in opened.get_json()["lines"] if ln["sku"] == sku)
            done = self.call(
                "POST",
                f"/api/stocktakes/{opened.get_json()['id']}/counts",
                {"counts": [{"sku": sku, "counted": counted}]},
            )
            assert done.status_code == 200, done.get_json()
            self.add(sku, counted - book)

        @invariant()
        def balances_equal_the_sum_of_movements(self) -> None:
            assert_ledger_consistent(self.engine)
            report = self.call("GET", "/api/ledger/verify").get_json()
            assert report["ok"], repr(report)

        @invariant()
        def no_serial_is_on_hand_twice(self) -> None:
            with self.engine.connect() as conn:
                worst = conn.execute(
                    sa.text(
                        "SELECT MAX(t) FROM (SELECT SUM(on_hand) AS t FROM stock_balances "
                        "WHERE sku = 'CAM' AND batch <> '' GROUP BY batch) AS s"
                    )
                ).scalar()
            assert (worst or 0) <= 1

        @invariant()
        def incoming_is_the_open_expected_quantity(self) -> None:
            for sku in PLAIN:
                want = sum(lines.get(sku, 0) for lines in self.expected.values())
                response = self.call("GET", f"/api/stock/{sku}")
                got = response.get_json()["incoming"] if response.status_code == 200 else 0
                assert got == want, (sku, got, want)

        @invariant()
        def on_hand_matches_the_model(self) -> None:
            for sku, qty in self.model.items():
                assert self.call("GET", f"/api/stock/{sku}").get_json()["on_hand"] == qty, sku

        def teardown(self) -> None:
            self.app.extensions["stockmirror"].db.dispose()

    Inventory.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(Inventory, settings=Inventory.TestCase.settings)
