function check(condition, varargin)
% check(condition, format, ...): fails the current test with a message unless condition holds.
if ~all(condition(:))
  error(varargin{:});
end
end
