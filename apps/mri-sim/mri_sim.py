"""MRI simulation: a Shepp-Logan-like brain phantom imaged by a spin-echo or spoiled
gradient-echo sequence.

1. Phantom: ellipsoids of tissue classes, each with T1, T2, T2* and proton density (PD),
   typical of 1.5 T. Drawn at twice the resolution and block-averaged (partial volume).
2. Contrast: the steady-state signal equation of the sequence, voxel by voxel.
3. Acquisition: 2D Fourier encoding of each slice (k-space), complex Gaussian thermal
   noise at the requested SNR, optional regular undersampling of phase-encode lines with
   a fully sampled centre.
4. Reconstruction: zero-filled inverse FFT, magnitude (so noise is Rician).
"""
import argparse
import json

import nibabel as nib
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

FOV_MM = 240.0
# name: (T1 ms, T2 ms, T2* ms, PD) at 1.5 T, rounded literature values
TISSUES = [
    ("air", 0, 0, 0, 0.0),
    ("fat", 260, 80, 40, 0.90),
    ("bone", 300, 5, 1, 0.05),
    ("gray_matter", 950, 100, 60, 0.80),
    ("white_matter", 600, 80, 50, 0.70),
    ("csf", 4000, 2000, 1000, 1.00),
    ("lesion", 1200, 150, 90, 0.85),
]
# Ellipsoids painted in order: centre (x, y, z), semi-axes (a, b, c), rotation (deg), tissue.
# Coordinates are normalised to the field of view ([-1, 1] across it).
ELLIPSOIDS = [
    ((0, 0, 0), (0.69, 0.92, 0.90), 0, 1),            # scalp
    ((0, -0.018, 0), (0.662, 0.874, 0.88), 0, 2),     # skull
    ((0, -0.018, 0), (0.63, 0.84, 0.86), 0, 3),       # cortex
    ((0, -0.018, 0), (0.54, 0.75, 0.78), 0, 4),       # white matter
    ((0.22, 0, 0), (0.11, 0.31, 0.22), -18, 5),       # right ventricle
    ((-0.22, 0, 0), (0.16, 0.41, 0.28), 18, 5),       # left ventricle
    ((0, 0.35, 0), (0.21, 0.25, 0.20), 0, 3),         # deep gray nuclei
    ((0, 0.1, 0), (0.046, 0.046, 0.05), 0, 5),        # small cyst
    ((-0.08, -0.605, 0), (0.046, 0.023, 0.05), 0, 6),  # lesions
    ((0.06, -0.605, 0), (0.023, 0.046, 0.05), 0, 6),
    ((0.3, 0.45, 0.05), (0.06, 0.06, 0.08), 0, 6),
]


def phantom_labels(n, z_norm):
    """Tissue index of each point of an n x n grid at normalised height z_norm."""
    c = (np.arange(n) + 0.5) / n * 2 - 1
    x, y = np.meshgrid(c, c, indexing="ij")
    labels = np.zeros((n, n), np.int16)
    for (x0, y0, z0), (a, b, cz), deg, tissue in ELLIPSOIDS:
        t = np.deg2rad(deg)
        xr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t)
        yr = -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
        labels[(xr / a) ** 2 + (yr / b) ** 2 + ((z_norm - z0) / cz) ** 2 <= 1] = tissue
    return labels


def signal(props, seq, tr, te, flip_deg):
    """Steady-state magnitude per tissue class (PD-scaled)."""
    t1, t2, t2s, pd = (props[:, i] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where(t1 > 0, np.exp(-tr / np.maximum(t1, 1e-9)), 0)
        if seq == "spin-echo":  # S = PD (1 - e^-TR/T1) e^-TE/T2
            s = pd * (1 - e1) * np.exp(-te / np.maximum(t2, 1e-9))
        else:  # spoiled GRE (FLASH): S = PD sin(a)(1 - E1)/(1 - cos(a) E1) e^-TE/T2*
            a = np.deg2rad(flip_deg)
            s = pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-te / np.maximum(t2s, 1e-9))
    return np.nan_to_num(s) * 1000.0


def block_mean(img, f):
    n = img.shape[0] // f
    return img.reshape(n, f, n, f).mean(axis=(1, 3))


def to_png(path, img):
    img = np.log1p(img)
    img = (255 * img / max(img.max(), 1e-12)).astype(np.uint8)
    Image.fromarray(img.T[::-1]).save(path)  # x to the right, y up


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--slices", type=int, default=1)
    p.add_argument("--sequence", choices=["spin-echo", "gradient-echo"], default="spin-echo")
    p.add_argument("--tr", type=float, default=500.0, help="repetition time (ms)")
    p.add_argument("--te", type=float, default=15.0, help="echo time (ms)")
    p.add_argument("--flip", type=float, default=30.0, help="flip angle (deg), gradient echo")
    p.add_argument("--snr", type=float, default=40.0, help="brain signal / noise sigma; 0: none")
    p.add_argument("--acceleration", type=int, default=1, help="keep 1 of R phase-encode lines")
    p.add_argument("--slice-thickness", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--prefix", default="mri")
    p.add_argument("--save-maps", action="store_true")
    a = p.parse_args()
    if not a.prefix or "/" in a.prefix or a.prefix.startswith("."):
        p.error("--prefix must be a plain file name prefix")
    if not 8 <= a.size <= 512 or a.slices < 1 or a.acceleration < 1 or a.te >= a.tr:
        p.error("need 8 <= size <= 512, slices >= 1, acceleration >= 1 and TE < TR")

    rng = np.random.default_rng(a.seed)
    n, nz, sup = a.size, a.slices, 2
    props = np.array([t[1:] for t in TISSUES], float)
    tissue_signal = signal(props, a.sequence, a.tr, a.te, a.flip)

    truth = np.zeros((n, n, nz))
    maps = np.zeros((n, n, nz, 4))  # T1, T2, T2*, PD
    brain = np.zeros((n, n, nz), bool)
    for k in range(nz):
        z_mm = (k - (nz - 1) / 2) * a.slice_thickness
        hi = phantom_labels(n * sup, z_mm / (FOV_MM / 2))
        truth[..., k] = block_mean(tissue_signal[hi], sup)
        for m in range(4):
            maps[..., k, m] = block_mean(props[hi, m], sup)
        brain[..., k] = block_mean(np.isin(hi, (3, 4, 5, 6)).astype(float), sup) > 0.5

    # Phase-encode sampling mask (along y): every R-th line plus the central 8 %.
    ky = np.arange(n) - n // 2
    mask = (ky % a.acceleration == 0) | (np.abs(ky) < max(2, int(0.04 * n)))
    ref = float(truth[brain].mean()) if brain.any() else float(truth.mean())
    sigma = ref / a.snr if a.snr > 0 else 0.0

    image = np.zeros_like(truth)
    kspace = np.zeros(truth.shape, complex)
    for k in range(nz):
        # orthonormal FFT: noise sigma in k-space equals noise sigma per image voxel
        ks = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(truth[..., k]), norm="ortho"))
        if sigma:
            ks = ks + sigma * (rng.standard_normal(ks.shape) + 1j * rng.standard_normal(ks.shape))
        ks[:, ~mask] = 0
        kspace[..., k] = ks
        image[..., k] = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(ks), norm="ortho")))

    vox = FOV_MM / n
    affine = np.diag([vox, vox, a.slice_thickness, 1.0])
    affine[:3, 3] = -np.array([FOV_MM / 2, FOV_MM / 2, a.slice_thickness * nz / 2]) + [vox / 2, vox / 2, a.slice_thickness / 2]

    def save(arr, name):
        img = nib.Nifti1Image(arr.astype(np.float32), affine)
        img.header.set_xyzt_units("mm", "msec")
        nib.save(img, f"{a.prefix}_{name}.nii.gz")

    save(image, "image")
    to_png(f"{a.prefix}_kspace.png", np.abs(kspace[..., nz // 2]))
    if a.save_maps:
        save(maps, "maps")

    err = image - truth
    rng_data = float(truth.max() - truth.min()) or 1.0
    mse = float(np.mean(err ** 2))
    ssim = np.mean([structural_similarity(truth[..., k], image[..., k], data_range=rng_data)
                    for k in range(nz)])
    means = {name: round(float(tissue_signal[i]), 3) for i, (name, *_) in enumerate(TISSUES)}
    summary = {
        "application": "mri-sim",
        "matrix": [n, n, nz],
        "voxel_mm": [vox, vox, a.slice_thickness],
        "sequence": a.sequence,
        "TR_ms": a.tr, "TE_ms": a.te,
        "flip_deg": a.flip if a.sequence == "gradient-echo" else 90.0,
        "snr_target": a.snr,
        "noise_sigma": sigma,
        "acceleration": a.acceleration,
        "sampled_fraction": float(mask.mean()),
        "seed": a.seed,
        "tissue_signal": means,
        "contrast_gm_wm": round(means["gray_matter"] / means["white_matter"], 4),
        "nrmse": float(np.sqrt(mse) / rng_data),
        "psnr_db": float(10 * np.log10(rng_data ** 2 / mse)) if mse > 0 else None,
        "ssim": float(ssim),
        "outputs": [f"{a.prefix}_image.nii.gz", f"{a.prefix}_kspace.png"]
        + ([f"{a.prefix}_maps.nii.gz"] if a.save_maps else []),
    }
    with open(f"{a.prefix}_summary.json", "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"mri-sim: {a.sequence} {n}x{n}x{nz}, SNR {a.snr}, R={a.acceleration}: "
          f"NRMSE {summary['nrmse']:.4f}, SSIM {summary['ssim']:.3f}")


if __name__ == "__main__":
    main()
