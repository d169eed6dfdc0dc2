function v = ifelse_empty(v, default)
% v = ifelse_empty(v, default): default when v is empty.
if isempty(v), v = default; end
end
