// How the return panel words an action (node --test, on the esbuild bundle of actions.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { actionLine } from "../dist-test/actions.mjs";

const action = (fields) => ({
  kind: "refund",
  amount: "59.00 NZD",
  state: "confirmed",
  paid: null,
  gift_card_code: null,
  ...fields,
});

test("an action in the shop's currency says its amount and state", () => {
  assert.equal(actionLine(action({})), "refund 59.00 NZD confirmed");
  assert.equal(actionLine(action({ kind: "tag_order", amount: null, state: "pending" })), "tag order pending");
});

test("a refund paid back in the customer's currency says both amounts", () => {
  assert.equal(
    actionLine(action({ paid: "54.10 AUD" })),
    "refund 59.00 NZD (54.10 AUD paid back) confirmed",
  );
});

test("a gift card's code follows the state", () => {
  assert.equal(
    actionLine(action({ kind: "credit_note", gift_card_code: "RH12ABCD" })),
    "credit note 59.00 NZD confirmed (gift card RH12ABCD)",
  );
});
