-- Argo CD health of a NIMPipeline, from status.state (Ready, NotReady, Failed) and
-- status.states (service name -> state).
-- Installed as resource.customizations.health.apps.nvidia.com_NIMPipeline in argocd-cm.
local hs = { status = "Progressing", message = "Waiting for the NIMPipeline status" }
if obj.status == nil or obj.status.state == nil or obj.status.state == "" then
  return hs
end
local names = {}
for name, _ in pairs(obj.status.states or {}) do table.insert(names, name) end
table.sort(names)
local function services(pred)
  local out = {}
  for _, name in ipairs(names) do
    if pred(obj.status.states[name]) then table.insert(out, name) end
  end
  return table.concat(out, ", ")
end
if obj.status.state == "Ready" then
  hs.status = "Healthy"
  hs.message = "All services are ready"
elseif obj.status.state == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed services: " .. services(function(s) return s == "Failed" end)
else
  hs.message = "Services not ready: " .. services(function(s) return s ~= "Ready" end)
end
return hs
