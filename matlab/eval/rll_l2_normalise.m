function y = rll_l2_normalise(x)
% y = rll_l2_normalise(x): each column of x divided by its L2 norm (a zero column stays zero).
n = sqrt(sum(x .^ 2, 1));
n(n == 0) = 1;
y = bsxfun(@rdivide, x, n);
end
