function test_layer_errors()
% Our layers' errors in matcaffe are Octave errors (identifier caffe:layer) naming the layer, the field or blob and
% the value, and the session goes on (apply --matcaffe asks the layers to throw and caffe_ catches): a bad
% parameter when the net is made, a NaN label at forward. Before, Caffe's LOG(FATAL) aborted Octave. Run in a fresh
% octave-cli, since an abort would take this runner with it.
root = getenv('RLL_CAFFE_ROOT');
[solver_file, dir] = small_net(6, 4, 10);
bad = strrep(fileread(fullfile(dir, 'net.prototxt')), 'margin: 0.4', 'margin: -0.5');
fid = fopen(fullfile(dir, 'bad.prototxt'), 'w');
fprintf(fid, '%s', bad);
fclose(fid);
home = tempname();
mkdir(home);
catch_line = 'catch e, printf(''caught [%%s] %%s\\n'', e.identifier, e.message); end; ';
script = sprintf(['addpath(''%s/matlab/''); caffe.set_mode_cpu(); ' ...
                  'try, caffe.Net(''%s'', ''train''); ' catch_line ...
                  'net = caffe.Net(''%s'', ''train''); net.blobs(''data'').set_data(single(randn(4, 6))); ' ...
                  'net.blobs(''label'').set_data(single([0; 0; 1; NaN; 2; 2])); ' ...
                  'try, net.forward_prefilled(); ' catch_line ...
                  'net.blobs(''label'').set_data(single([0; 0; 1; 1; 2; 2])); net.forward_prefilled(); ' ...
                  'printf(''loss %%.4f\\n'', net.blobs(''loss'').get_data());'], ...
                 root, fullfile(dir, 'bad.prototxt'), fullfile(dir, 'net.prototxt'));
octave = fullfile(OCTAVE_HOME(), 'bin', 'octave-cli');
[status, out] = system(sprintf('HOME=%s GLOG_minloglevel=2 %s --no-gui --no-window-system --eval "%s" 2>&1', ...
                               home, octave, script));
check(status == 0, 'exit status %d (134 is the abort):\n%s', status, out);
check(~isempty(regexp(out, ['caught \[caffe:layer\] [^\n]*RankedListLoss layer ''loss'': bad parameters: ' ...
                            '[^\n]*margin = -0\.5 is negative'], 'once')), 'the bad parameter as an Octave error:\n%s', out);
check(~isempty(regexp(out, 'caught \[caffe:layer\] [^\n]*RankedListLoss layer ''loss'': labels\[3\] = NaN is not finite', ...
                      'once')), 'the NaN label as an Octave error:\n%s', out);
check(~isempty(regexp(out, 'loss \d+\.\d{4}', 'once')), 'the session goes on:\n%s', out);
confirm_recursive_rmdir(false, 'local');
rmdir(home, 's');
end
