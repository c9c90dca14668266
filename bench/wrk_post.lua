-- wrk's request for bench/api_load.py: a POST of WRK_BODY with the headers of WRK_HEADERS ("Name: value" lines).
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
