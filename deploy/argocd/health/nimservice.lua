-- Argo CD health of a NIMService, from the status the nimc agent (or the operator) writes:
-- the Ready and Failed conditions and status.state (Pending, NotReady, Ready, Failed).
-- Installed as resource.customizations.health.apps.nvidia.com_NIMService in argocd-cm.
local hs = { status = "Progressing", message = "Waiting for the NIMService status" }
if obj.status == nil then
  return hs
end
local ready, failed, drift
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "Ready" then ready = c end
  if c.type == "Failed" then failed = c end
  if c.type == "Drifted" then drift = c end
end
if (failed ~= nil and failed.status == "True") or obj.status.state == "Failed" then
  hs.status = "Degraded"
  hs.message = (failed and failed.message ~= "" and failed.message) or "NIMService failed"
  return hs
end
if obj.status.state == "Ready" or (ready ~= nil and ready.status == "True") then
  if drift ~= nil and drift.status == "True" then
    hs.status = "Progressing"
    hs.message = "Ready, but the live objects are not yet what nimc renders: " .. (drift.message or "")
    return hs
  end
  hs.status = "Healthy"
  hs.message = (ready and ready.message) or "NIMService is ready"
  return hs
end
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
elseif obj.status.state ~= nil and obj.status.state ~= "" then
  hs.message = "NIMService is " .. obj.status.state
end
return hs
