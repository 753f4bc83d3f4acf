import { expect, test } from "bun:test";
import { usageCsv, usageJson } from "./answers.ts";

const row = { key: "sub-1", displayName: "=cmd@evil", requests: 2, inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 3, cacheCreation5mInputTokens: 3, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 40, webSearchRequests: 0, costMicroUsd: 1_234_567, unpricedRequests: 0 };

test("JSON rows carry every token kind and cost in USD; CSV neutralises formulas and quotes", () => {
  const json = usageJson("user", [row]);
  expect(json[0]).toMatchObject({ user: "=cmd@evil", sub: "sub-1", requests: 2, cache_read_input_tokens: 40, cost_usd: 1.234567 });
  const csv = usageCsv("user", json).split("\r\n");
  expect(csv[0]).toStartWith("user,sub,requests,input_tokens,output_tokens,cache_creation_input_tokens");
  expect(csv[1]).toStartWith("'=cmd@evil,sub-1,2,10,5,3,3,0,40,0,1.234567,0");
  expect(usageCsv("model", usageJson("model", [{ ...row, key: 'a,"b' }])).split("\r\n")[1]).toStartWith('"a,""b",2');
});
