% The same local function name with five arguments (query/gallery), as in their
% test_ori_center_crop_v04_InshopClothes.m.
arr = compute_recall_at_K(scores(1:2, 3:4), 1, ids, 2, 2);
fprintf('five: rank1 %.3f\n', arr);

function recall = compute_recall_at_K(distance_matrix, K, ...
                                      class_ids, query_num, gallery_num)
  num_correct = 0;
  for i = 1:query_num
    [~, inds] = sort(distance_matrix(i, :), 'ascend');
    num_correct = num_correct + any(class_ids(query_num + inds(1:K)) == class_ids(i));
  end
  recall = num_correct / query_num;
end
