import { describe, expect, test } from "bun:test";
import type { Person, SeenPerson } from "../model/person.ts";
import { PeopleSeen } from "./people-seen.ts";

const ann: Person = { tenant: "t", sub: "s-ann", username: "ann@example.com", displayName: "ann@example.com", groups: [] };

function fakeStore(fail = false) {
  const writes: SeenPerson[] = [];
  return { writes, notePerson: async (p: SeenPerson) => (fail ? Promise.reject(new Error("down")) : void writes.push(p)) };
}

describe("PeopleSeen", () => {
  test("one write per person, not per request; again when their identifiers change, and hourly", async () => {
    let now = 1_000;
    const store = fakeStore();
    const seen = new PeopleSeen(store, 3_600_000, () => now);
    for (let i = 0; i < 100; i++) seen.saw(ann);
    await Bun.sleep(0);
    expect(store.writes).toEqual([{ tenant: "t", sub: "s-ann", username: "ann@example.com", displayName: "ann@example.com", groups: [], firstSeen: 1_000, lastSeen: 1_000 }]);
    // userInfo gave the e-mail: written again, with it
    seen.saw({ ...ann, email: "ann.real@example.com", displayName: "ann.real@example.com" });
    seen.saw({ ...ann, email: "ann.real@example.com", displayName: "ann.real@example.com" });
    await Bun.sleep(0);
    expect(store.writes).toHaveLength(2);
    expect(store.writes[1]?.email).toBe("ann.real@example.com");
    now += 3_600_000;
    seen.saw({ ...ann, email: "ann.real@example.com", displayName: "ann.real@example.com" });
    await Bun.sleep(0);
    expect(store.writes).toHaveLength(3);
    // another tenant's person with the same sub is another person
    seen.saw({ ...ann, tenant: "u" });
    await Bun.sleep(0);
    expect(store.writes).toHaveLength(4);
    // their groups changed (admin policy explain shows the latest): written again
    seen.saw({ ...ann, tenant: "u", groups: ["platform"] });
    await Bun.sleep(0);
    expect(store.writes).toHaveLength(5);
    expect(store.writes[4]?.groups).toEqual(["platform"]);
  });

  test("a write the store refused is tried again on the person's next request", async () => {
    let fail = true;
    const writes: SeenPerson[] = [];
    const seen = new PeopleSeen({ notePerson: async (p) => (fail ? Promise.reject(new Error("down")) : void writes.push(p)) });
    seen.saw(ann);
    await Bun.sleep(0);
    fail = false;
    seen.saw(ann);
    await Bun.sleep(0);
    expect(writes).toHaveLength(1);
  });
});
