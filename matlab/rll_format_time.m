function s = rll_format_time(seconds)
% s = rll_format_time(seconds)
%   The training progress line's time, minutes:seconds ('1:05'). The seconds are rounded before they are split
%   into minutes, so 59.6 s reads '1:00', never '0:60'.
total = round(seconds);
s = sprintf('%d:%02d', floor(total / 60), mod(total, 60));
end
