"""Image analysis: intensity-based segmentation of a NIfTI image into labelled regions.

Pipeline: Gaussian smoothing (noise), thresholding into intensity classes (Otsu: object
vs background; multi-Otsu: K classes maximising between-class variance), in-plane
morphological opening per class (removes specks and thin bridges), 3D connected
components, keeping each class's largest components. Every component kept becomes one
label; statistics are taken on the original (unsmoothed) intensities.
"""
import argparse
import csv
import json
import os

import nibabel as nib
import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import label2rgb
from skimage.filters import threshold_multiotsu, threshold_otsu


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("image", help="input NIfTI image")
    p.add_argument("--method", choices=["otsu", "multiotsu", "fraction"], default="multiotsu")
    p.add_argument("--classes", type=int, default=4, help="multi-Otsu classes, background included")
    p.add_argument("--fraction", type=float, default=0.3, help="threshold / maximum, for 'fraction'")
    p.add_argument("--sigma", type=float, default=1.0, help="Gaussian smoothing (mm)")
    p.add_argument("--opening", type=int, default=1, help="opening radius (voxels), 0: none")
    p.add_argument("--keep", type=int, default=3, help="largest components kept per class, 0: all")
    p.add_argument("--min-voxels", type=int, default=20)
    p.add_argument("--prefix", default="seg")
    a = p.parse_args()
    if not a.prefix or "/" in a.prefix or a.prefix.startswith("."):
        p.error("--prefix must be a plain file name prefix")
    if not 2 <= a.classes <= 6 or a.sigma < 0 or a.opening < 0 or a.keep < 0:
        p.error("need 2 <= classes <= 6, sigma >= 0, opening >= 0, keep >= 0")

    if not os.path.isfile(a.image):
        p.error(f"no such file: {a.image}")
    img = nib.load(a.image)
    data = np.nan_to_num(np.asarray(img.dataobj, dtype=float))
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]  # first volume of a series
    zooms = np.array((tuple(img.header.get_zooms()) + (1.0,) * 3)[:3], float)
    voxel_ml = float(np.prod(zooms)) / 1000.0

    smooth = ndi.gaussian_filter(data, sigma=a.sigma / zooms) if a.sigma > 0 else data
    if a.method == "otsu":
        classes = (smooth > threshold_otsu(smooth)).astype(int)
        thresholds = [threshold_otsu(smooth)]
    elif a.method == "fraction":
        thresholds = [a.fraction * smooth.max()]
        classes = (smooth > thresholds[0]).astype(int)
    else:
        thresholds = list(threshold_multiotsu(smooth, classes=a.classes))
        classes = np.digitize(smooth, thresholds)

    r = a.opening
    disk = np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2) <= r * r
    footprint = disk[..., None]  # in-plane only: slices are often thick
    labels = np.zeros(data.shape, np.int16)
    rows = []
    for cls in range(1, int(classes.max()) + 1):
        mask = classes == cls
        if r > 0:
            mask = ndi.binary_opening(mask, structure=footprint)
        comp, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
        if n == 0:
            continue
        sizes = ndi.sum_labels(np.ones_like(comp), comp, index=np.arange(1, n + 1))
        order = [i + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] >= a.min_voxels]
        for c in order[: a.keep or None]:
            region = comp == c
            label = len(rows) + 1
            labels[region] = label
            vals = data[region]
            centroid = np.array(ndi.center_of_mass(region))
            world = img.affine[:3, :3] @ centroid + img.affine[:3, 3]
            rows.append({
                "label": label, "class": cls, "voxels": int(region.sum()),
                "volume_ml": round(region.sum() * voxel_ml, 4),
                "mean": float(vals.mean()), "std": float(vals.std()),
                "min": float(vals.min()), "max": float(vals.max()),
                "centroid_x_mm": round(float(world[0]), 2),
                "centroid_y_mm": round(float(world[1]), 2),
                "centroid_z_mm": round(float(world[2]), 2),
            })

    out = nib.Nifti1Image(labels, img.affine)
    out.header.set_data_dtype(np.int16)
    nib.save(out, f"{a.prefix}_labels.nii.gz")
    with open(f"{a.prefix}_regions.csv", "w", newline="") as f:
        fields = ["label", "class", "voxels", "volume_ml", "mean", "std", "min", "max",
                  "centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)

    # Overlay of the middle slice for a quick look (x to the right, y up).
    k = data.shape[2] // 2
    base = data[..., k] / (data[..., k].max() or 1)
    rgb = label2rgb(labels[..., k], image=base, alpha=0.35, bg_label=0)
    Image.fromarray((255 * np.clip(rgb, 0, 1)).astype(np.uint8).transpose(1, 0, 2)[::-1]).save(
        f"{a.prefix}_overlay.png")

    summary = {"application": "image-analysis", "input": a.image, "method": a.method,
               "thresholds": [float(t) for t in thresholds], "regions": len(rows),
               "total_volume_ml": round(sum(r["volume_ml"] for r in rows), 4)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
