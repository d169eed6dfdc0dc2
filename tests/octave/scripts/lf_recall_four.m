% A helper script in the authors' style: code first, then local functions (compute_recall_at_K with four
% arguments, as in their test_ori_center_crop_v04.m), one calling another. Reads the distances 'scores' and the labels 'ids' from the
% workspace of the script that runs it.
arr = zeros(2, 1);
arr(1) = compute_recall_at_K(scores, 1, ids, numel(ids));
arr(2) = compute_recall_at_K(scores, 2, ids, numel(ids));
fprintf('four: rank1 %.3f rank2 %.3f\n', arr(1), arr(2));

% compute recall@K over all queries, self excluded
function recall = compute_recall_at_K(distance_matrix, K, class_ids, num)
  recall = mean(arrayfun(@(i) hit(distance_matrix(i, :), i, K, class_ids), 1:num));
end

function h = hit(row, i, K, class_ids)
  row(i) = inf;
  [~, order] = sort(row, 'ascend');
  h = any(class_ids(order(1:K)) == class_ids(i));
end
