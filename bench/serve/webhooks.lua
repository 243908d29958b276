-- wrk script for bench/run_serve: POSTs pre-signed ControlShift webhooks,
-- each a distinct delivery (run_serve writes them, body and signature on
-- alternate lines), so every request creates an execution; wrap-around
-- deliveries are duplicates and the server counts them as such.
local bodies, sigs = {}, {}
local f = io.open(os.getenv("SW_BENCH_BODIES"))
while true do
  local b = f:read("*l")
  if not b then break end
  bodies[#bodies + 1] = b
  sigs[#sigs + 1] = f:read("*l")
end
f:close()
local i = 0
request = function()
  i = i + 1
  local k = ((i - 1) % #bodies) + 1
  return wrk.format("POST", "/hooks/controlshift",
    {["Content-Type"] = "application/json",
     ["x-controlshift-webhook-signature"] = sigs[k]}, bodies[k])
end
