function test_format_time()
% The progress line's time at the edges of a minute: rounding happens before the split (59.6 s is 1:00, and
% 2759.7 s is 46:00, not 45:60).
cases = {0, '0:00'; 0.4, '0:00'; 59.4, '0:59'; 59.5, '1:00'; 59.6, '1:00'; 60, '1:00'; 119.7, '2:00'; ...
         2759.7, '46:00'; 2759.4, '45:59'; 3600, '60:00'};
for i = 1:size(cases, 1)
  got = rll_format_time(cases{i, 1});
  check(strcmp(got, cases{i, 2}), sprintf('%g s: %s, expected %s', cases{i, 1}, got, cases{i, 2}));
end
end
