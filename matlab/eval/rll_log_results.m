function rll_log_results(log_file, iter, name, result)
% rll_log_results(log_file, iter, name, result)
%   Appends one line, as the original Recall_*.txt files: iteration, embedding name, Recall@K for each K, NMI.
fid = fopen(log_file, 'a');
if fid < 0, error('rll_log_results: cannot open %s', log_file); end
parts = arrayfun(@(k, r) sprintf('R@%d %.4f', k, r), result.ks, result.recall, 'UniformOutput', false);
fprintf(fid, 'iter %d %s: %s NMI %.4f\n', iter, name, strjoin(parts, ' '), result.nmi);
fclose(fid);
end
