function y = lf_plain_function(x)
% A function file: rll_local_functions leaves it alone.
y = inner(x);
end

function y = inner(x)
y = x + 1;
end
