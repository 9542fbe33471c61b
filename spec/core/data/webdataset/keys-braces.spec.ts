import assert from "node:assert/strict";
import { braceCount, braceExpand, BraceError, extProblem, isMetaMember, keyProblem, splitMemberName } from "../../../../core/index.ts";

describe("core/data/webdataset: member names and brace patterns", () => {
  it("splits member names exactly as webdataset's base_plus_ext (the reference table)", () => {
    const table: [string, [string, string] | null][] = [
      ["s1.jpg", ["s1", "jpg"]],
      ["a.b/c.d.seg.jpg", ["a.b/c", "d.seg.jpg"]],
      ["sample.0001.jpg", ["sample", "0001.jpg"]],
      ["img.JPG", ["img", "jpg"]],
      ["x/y/z.tar.gz", ["x/y/z", "tar.gz"]],
      ["d.dir/sub/s.txt", ["d.dir/sub/s", "txt"]],
      ["a/b.c/d", null],
      [".hidden.txt", null],
      ["dir/.x.y", ["dir/", "x.y"]],
      ["k.", ["k", ""]],
      ["noext", null],
      ["__meta__", null],
    ];
    for (const [name, want] of table) {
      const got = splitMemberName(name);
      assert.deepEqual(got && [got.key, got.ext], want, name);
    }
    assert.ok(isMetaMember("__index__/x.json") && isMetaMember("__meta__") && isMetaMember("a/__x__"));
    assert.ok(!isMetaMember("a__b.txt") && !isMetaMember("_x.txt"));
  });

  it("refuses keys and extensions that would not read back", () => {
    assert.equal(keyProblem("shard0/000123"), null);
    assert.match(keyProblem("")!, /empty key/);
    assert.match(keyProblem("../x")!, /\.\./);
    assert.match(keyProblem("/abs/x")!, /absolute/);
    assert.match(keyProblem("a//b")!, /empty path segment/);
    assert.match(keyProblem("img.001")!, /dot in the key's basename/);
    assert.match(keyProblem("__meta__")!, /reserved/);
    assert.equal(keyProblem("dir.v2/img001"), null, "dots in directories are fine");
    assert.match(extProblem("JPG")!, /upper-case/);
    assert.match(extProblem("a/b")!, /"\/"/);
  });

  it("brace expansion follows braceexpand: ranges, padding, steps, lists, nesting, products", () => {
    const cases: [string, string[]][] = [
      ["x-{000000..000003}.tar", ["x-000000.tar", "x-000001.tar", "x-000002.tar", "x-000003.tar"]],
      ["{07..10}", ["07", "08", "09", "10"]],
      ["{8..11}", ["8", "9", "10", "11"]],
      ["{0..10..4}", ["0", "4", "8"]],
      ["{4..1}", ["4", "3", "2", "1"]],
      ["{-1..1}", ["-1", "0", "1"]],
      ["{a..e..2}", ["a", "c", "e"]],
      ["{a,b,}", ["a", "b", ""]],
      ["a{0..2}b{x,y}", ["a0bx", "a0by", "a1bx", "a1by", "a2bx", "a2by"]],
      ["{a,b{1,2}}c", ["ac", "b1c", "b2c"]],
      ["x{a}y", ["x{a}y"]],
      ["a\\{b,c\\}", ["a{b,c}"]],
      ["plain.tar", ["plain.tar"]],
    ];
    for (const [p, want] of cases) {
      assert.deepEqual(braceExpand(p), want, p);
      assert.equal(braceCount(p), want.length, `count of ${p}`);
    }
    assert.throws(
      () => braceExpand("x{0..3"),
      (e: unknown) => e instanceof BraceError && /unbalanced "\{"/.test((e as Error).message),
    );
    assert.throws(() => braceExpand("x}"), /unbalanced "\}"/);
    assert.equal(braceExpand("s-{000000..199999}.tar").length, 200000, "a large list within the limit");
  });

  it("refuses a pattern naming more than the limit before making any name (the hostile shard lists)", () => {
    const tooMany = (p: string, n: string) =>
      assert.throws(
        () => braceExpand(p),
        (e: unknown) => e instanceof BraceError && (e as Error).message.includes(`expands to ${n} names`) && /limit of 1,000,000/.test((e as Error).message),
        p,
      );
    tooMany("x-{0..99999999}.tar", "100,000,000");
    tooMany("{0..9}{0..9}{0..9}{0..9}{0..9}{0..9}{0..9}", "10,000,000");
    tooMany("{{0..9},{0..9}{{0..9}{0..9}{0..9}{0..9}{0..9}{0..9}}}", "10,000,010");
    assert.equal(braceCount("{0..9}".repeat(20)), 1e20);
    assert.equal(braceExpand("{0..9}{0..9}", 100).length, 100, "a caller's own limit");
    assert.throws(() => braceExpand("{0..9}{0..9}", 99), /expands to 100 names, more than the limit of 99/);
  });
});
