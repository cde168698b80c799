-- Argo CD health of a NIMCache, from status.state (PVC-Created, Started, Pending, InProgress,
-- Ready, Failed, NotReady) and its NIM_CACHE_* conditions.
-- Installed as resource.customizations.health.apps.nvidia.com_NIMCache in argocd-cm.
local hs = { status = "Progressing", message = "Waiting for the NIMCache status" }
if obj.status == nil or obj.status.state == nil or obj.status.state == "" then
  return hs
end
local state = obj.status.state
local reconcile_failed
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "NIM_CACHE_RECONCILE_FAILED" and c.status == "True" then reconcile_failed = c end
end
if state == "Ready" then
  hs.status = "Healthy"
  hs.message = "Model cached in PVC " .. (obj.status.pvc or "")
elseif state == "Failed" then
  hs.status = "Degraded"
  hs.message = "The Job to cache the model has failed"
elseif state == "NotReady" and reconcile_failed ~= nil then
  hs.status = "Degraded"
  hs.message = reconcile_failed.message or "NIMCache reconcile failed"
else
  hs.message = "Caching the model: " .. state
end
return hs
