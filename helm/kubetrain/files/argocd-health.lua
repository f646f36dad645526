-- Argo CD health check for kubetrain.io/TrainingJob (docs/gitops.md).
-- Install it in argocd-cm under resource.customizations.health.kubetrain.io_TrainingJob.
--   Succeeded -> Healthy, Pending/Running -> Progressing, Failed -> Degraded,
--   Suspended -> Suspended; a spec change the operator has not seen yet -> Progressing.
local hs = {status = "Progressing", message = "Waiting for the operator to reconcile the job"}
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "The operator has not yet seen generation " .. tostring(generation)
  return hs
end
local phase = obj.status.phase
local message = obj.status.message or phase
local health = {
  Succeeded = "Healthy",
  Pending = "Progressing",
  Running = "Progressing",
  Failed = "Degraded",
  Suspended = "Suspended",
}
hs.status = health[phase] or "Unknown"
hs.message = phase .. ": " .. message
return hs
