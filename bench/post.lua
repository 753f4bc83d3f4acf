-- wrk: POST a small Messages request with the credentials in the environment.
wrk.method = "POST"
wrk.body = '{"model":"claude-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
local token = os.getenv("BENCH_TOKEN")
if token then
  wrk.headers["authorization"] = "Bearer " .. token
  wrk.headers["x-api-key"] = token
end
local key = os.getenv("BENCH_UPSTREAM_KEY")
if key then wrk.headers["x-api-key"] = key end
