#!/usr/bin/env python3
"""MATLAB v7.3 MAT-files (HDF5) for GNU Octave, which cannot read them (Octave 7's load fails on MATLAB's HDF5
layout) nor write them (`save -v7.3` is not implemented).

  tools/mat73.py to-v7 IN.mat OUT.mat      rewrite a v7.3 file as a v7 MAT-file, which MATLAB and Octave both read
  tools/mat73.py write-list OUT.mat        (tests) write a v7.3 file shaped like the authors' image lists:
                                           a cell of image paths and a numeric column of class ids

Supported, as the original scripts' lists need: numeric and logical arrays, char arrays, cells of those (nested),
structs of those. Needs numpy, h5py and scipy (pip install numpy h5py scipy).
"""
import argparse
import sys
import time

import h5py
import numpy as np

HEADER_SIZE = 512  # MATLAB's user block: a text header, then version 0x0200 and the endian mark 'IM'
NUMERIC = {"double": np.float64, "single": np.float32, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
           "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64}


def matlab_class(obj):
    c = obj.attrs.get("MATLAB_class")
    return c.decode() if isinstance(c, bytes) else c


def read_value(f, obj):
    """One MATLAB value from its HDF5 object (arrays are stored transposed: MATLAB is column-major)."""
    cls = matlab_class(obj)
    if isinstance(obj, h5py.Group):
        if cls != "struct":
            raise ValueError(f"{obj.name}: MATLAB class {cls!r} is not supported")
        return {k: read_value(f, obj[k]) for k in obj.keys()}
    if obj.attrs.get("MATLAB_empty", 0):
        return np.zeros((0, 0))
    data = obj[()]
    if cls == "cell":
        out = np.empty(data.shape[::-1], dtype=object)
        for idx in np.ndindex(data.shape):
            out[idx[::-1]] = read_value(f, f[data[idx]])
        return out
    if cls == "char":
        chars = np.asarray(data, dtype=np.uint16).T
        rows = ["".join(map(chr, r)) for r in np.atleast_2d(chars)]
        return rows[0] if len(rows) == 1 else np.array(rows, dtype=object)
    if cls == "logical":
        return np.asarray(data, dtype=bool).T
    if cls in NUMERIC:
        return np.asarray(data, dtype=NUMERIC[cls]).T
    raise ValueError(f"{obj.name}: MATLAB class {cls!r} is not supported")


def to_v7(src, dst):
    import scipy.io
    with h5py.File(src, "r") as f:
        names = [k for k in f.keys() if not k.startswith("#")]
        values = {k: read_value(f, f[k]) for k in names}
    scipy.io.savemat(dst, values, format="5", oned_as="column")
    print(f"mat73: {src} -> {dst} ({', '.join(names)})")


def header():
    text = (f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {time.strftime('%a %b %d %H:%M:%S %Y')} "
            "HDF5 schema 1.00 .").encode()
    return text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * (HEADER_SIZE - 128)


def write_char(f, path, text):
    ds = f.create_dataset(path, data=np.array([[ord(c)] for c in text], dtype=np.uint16))
    ds.attrs["MATLAB_class"] = np.bytes_("char")
    ds.attrs["MATLAB_int_decode"] = np.int32(2)
    return ds


def write_list(dst, names, ids, cell_name="TrainImagePathBoxCell"):
    """A v7.3 file as MATLAB's `save(dst, cell_name, 'class_ids', '-v7.3')` writes it: the N x 1 cell's strings
    under #refs#, referenced from the cell dataset; class_ids an N x 1 double (both stored 1 x N)."""
    with h5py.File(dst, "w", userblock_size=HEADER_SIZE) as f:
        refs = f.create_group("#refs#")
        cell = f.create_dataset(cell_name, (1, len(names)), dtype=h5py.ref_dtype)
        for i, name in enumerate(names):
            cell[0, i] = write_char(refs, f"s{i}", name).ref
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        ds = f.create_dataset("class_ids", data=np.asarray(ids, dtype=np.float64).reshape(1, -1))
        ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(dst, "r+b") as out:
        out.write(header())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-v7")
    a.add_argument("src")
    a.add_argument("dst")
    b = sub.add_parser("write-list")
    b.add_argument("dst")
    b.add_argument("--cell-name", default="TrainImagePathBoxCell")
    args = ap.parse_args()
    if args.cmd == "to-v7":
        to_v7(args.src, args.dst)
    else:
        names = [f"img/{c}/{i:03d}_front.jpg" for c, i in [("WOMEN", 1), ("WOMEN", 2), ("MEN", 7), ("MEN", 12)]]
        write_list(args.dst, names, [1, 1, 2, 2], args.cell_name)


if __name__ == "__main__":
    sys.exit(main())
