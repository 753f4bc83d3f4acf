-- wrk: POST a small Messages request, each with the next of many people's tokens (BENCH_TOKENS_FILE, one a line).
wrk.method = "POST"
wrk.body = '{"model":"claude-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  wrk.headers["authorization"] = "Bearer " .. tokens[i]
  return wrk.format()
end
