"""Internal dosimetry: absorbed dose from an activity map by voxel S-value convolution.

1. Activity: the map is taken as the relative distribution (negatives clipped) at t = 0
   of the part u of the administered activity A0 that is in the imaged volume; with
   mono-exponential clearance of effective half-life T_eff, the decays in a voxel of
   share f are N = u * A0 * f * T_eff / ln 2.
2. Voxel S-values (dose to a target voxel per decay in a source voxel), soft tissue of
   density 1 g/cm3 everywhere, built from point kernels of absorbed fraction per volume:
     electrons  K(r) = exp(-r/l) / (4 pi l r^2)           l: range parameter of the betas
     photons    K(r) = mu_en (1 + k mu r) exp(-mu r) / (4 pi r^2), k = mu/mu_en - 1
                (linear build-up chosen so that an infinite medium absorbs all energy)
   S = E * K * V / m away from the source, averaged over positions within the voxels
   next to it. The source voxel keeps the electron energy not absorbed elsewhere, and
   the photon energy absorbed in a sphere of its volume.
   Method "local" deposits all energy in the source voxel instead.
3. Dose = sum over source slices of the 2D FFT convolution of each source slice with the
   kernel plane of each slice distance. Under MPI the source slices are shared out among
   the ranks and the partial dose maps summed on rank 0: same result for any rank count.
"""
import argparse
import csv
import json
import math
import os

import nibabel as nib
import numpy as np

MEV_J = 1.602176634e-13
# Physical half-life (h); mean energy of betas and conversion/Auger electrons per decay
# (MeV); electron range parameter l = X90 / ln 10 (mm); photons: (energy MeV, yield per
# decay, mu and mu_en in water, 1/cm). Rounded from MIRD/ICRP-107 and NIST XCOM tables.
ISOTOPES = {
    "Lu-177": dict(t_half_h=159.5, e_electron=0.1479, l_mm=0.26,
                   photons=[(0.1129, 0.062, 0.165, 0.0260), (0.2084, 0.104, 0.137, 0.0297)]),
    "I-131": dict(t_half_h=192.6, e_electron=0.1920, l_mm=0.35,
                  photons=[(0.3645, 0.815, 0.111, 0.0326), (0.6370, 0.072, 0.0876, 0.0327),
                           (0.2843, 0.061, 0.1205, 0.0318), (0.0802, 0.026, 0.184, 0.0260)]),
    "Y-90": dict(t_half_h=64.1, e_electron=0.9337, l_mm=2.3, photons=[]),
}


def components(iso):
    """(energy per decay MeV, point kernel(r mm) per mm^3, absorbed fraction within r mm,
    is_electron) for the electrons and each photon line."""
    lam = iso["l_mm"]
    out = [(iso["e_electron"],
            lambda r: np.exp(-r / lam) / (4 * np.pi * lam * r ** 2),
            lambda r: 1 - np.exp(-r / lam), True)]
    for e, y, mu, mu_en in iso["photons"]:
        mu, mu_en = mu / 10, mu_en / 10  # 1/mm
        k = mu / mu_en - 1
        out.append((e * y,
                    lambda r, mu=mu, mu_en=mu_en, k=k:
                        mu_en * (1 + k * mu * r) * np.exp(-mu * r) / (4 * np.pi * r ** 2),
                    lambda r, mu=mu, mu_en=mu_en, k=k:
                        mu_en / mu * ((1 - np.exp(-mu * r)) + k * (1 - np.exp(-mu * r) * (1 + mu * r))),
                    False))
    return out


def s_kernel(iso, shape, vox, method):
    """Energy (J) absorbed per decay in each target voxel offset: array of shape 2*shape-1."""
    half = tuple(n - 1 for n in shape)
    kernel = np.zeros([2 * h + 1 for h in half])
    comps = components(iso)
    if method == "local":
        kernel[half] = sum(e for e, *_ in comps) * MEV_J
        return kernel
    ii, jj, kk = np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij")
    volume = float(np.prod(vox))
    r = np.sqrt((ii * vox[0]) ** 2 + (jj * vox[1]) ** 2 + (kk * vox[2]) ** 2)
    r[half] = 1.0  # placeholder: the source voxel is set below
    # Voxels next to the source: average over the displacements between uniform points of
    # the two voxels (a triangular distribution per axis), midpoint rule.
    near = (np.abs(ii) <= 2) & (np.abs(jj) <= 2) & (np.abs(kk) <= 2)
    m = 16
    t = -1 + (2 * np.arange(m) + 1) / m
    w = (1 - np.abs(t)) / (1 - np.abs(t)).sum()
    ta, tb, tc = np.meshgrid(t, t, t, indexing="ij")
    wq = np.einsum("i,j,k->ijk", w, w, w).ravel()
    rq = np.sqrt(((ii[near, None] + ta.ravel()) * vox[0]) ** 2 + ((jj[near, None] + tb.ravel()) * vox[1]) ** 2
                 + ((kk[near, None] + tc.ravel()) * vox[2]) ** 2)
    radius = (3 * volume / (4 * np.pi)) ** (1 / 3)  # sphere of the voxel's volume
    for e, kern, frac, electron in comps:
        f = kern(r) * volume  # fraction absorbed per target voxel, far from the source
        f[near] = (kern(rq) * wq).sum(axis=1) * volume
        f[half] = 0.0
        # Electrons stop within the kernel: the source voxel keeps what the others do not
        # (energy conserved). Photons: the fraction absorbed in a sphere of its volume.
        f[half] = max(0.0, 1.0 - f.sum()) if electron else frac(radius)
        kernel += e * f
    return kernel * MEV_J


def convolve_slices(decays, kernel, my_slices):
    """Sum over the given source slices of their 2D convolution with each kernel plane."""
    nx, ny, nz = decays.shape
    hx, hy, hz = (s // 2 for s in kernel.shape)
    shape = (nx + 2 * hx, ny + 2 * hy)
    acc = np.zeros((shape[0], shape[1] // 2 + 1, nz), complex)
    kf = {}
    for zs in my_slices:
        if not decays[..., zs].any():
            continue
        af = np.fft.rfft2(decays[..., zs], s=shape)
        for zt in range(nz):
            dz = zt - zs + hz
            if dz not in kf:
                kf[dz] = np.fft.rfft2(kernel[..., dz], s=shape)
            acc[..., zt] += af * kf[dz]
    out = np.zeros(decays.shape)
    for zt in range(nz):
        full = np.fft.irfft2(acc[..., zt], s=shape)
        out[..., zt] = full[hx:hx + nx, hy:hy + ny]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("activity", help="NIfTI activity map (relative distribution)")
    p.add_argument("--isotope", choices=sorted(ISOTOPES), default="Lu-177")
    p.add_argument("--activity-mbq", type=float, default=7400.0, help="administered activity")
    p.add_argument("--fraction", type=float, default=0.1,
                   help="fraction of the administered activity in the imaged volume")
    p.add_argument("--t-eff", type=float, help="effective half-life (h); default: physical")
    p.add_argument("--method", choices=["kernel", "local"], default="kernel")
    p.add_argument("--labels", help="NIfTI label map: one volume of interest per label")
    p.add_argument("--prefix", default="dose")
    a = p.parse_args()
    if not a.prefix or "/" in a.prefix or a.prefix.startswith("."):
        p.error("--prefix must be a plain file name prefix")

    try:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    except ImportError:  # still runs serially without MPI
        comm = None
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm else (0, 1)

    iso = ISOTOPES[a.isotope]
    t_eff = a.t_eff or iso["t_half_h"]
    if a.activity_mbq <= 0 or t_eff <= 0 or not 0 < a.fraction <= 1:
        p.error("need activity > 0, effective half-life > 0 and 0 < fraction <= 1")
    for path in (a.activity, a.labels):
        if path and not os.path.isfile(path):
            p.error(f"no such file: {path}")
    img = nib.load(a.activity)
    act = np.clip(np.nan_to_num(np.asarray(img.dataobj, float)), 0, None)
    act = act.reshape(act.shape[0], act.shape[1], -1)
    if act.sum() <= 0:
        p.error("the activity map has no positive voxel")
    vox = np.array((tuple(img.header.get_zooms()) + (1.0,) * 3)[:3], float)

    # Time integration: cumulated activity (MBq h) and decays per voxel.
    cumulated = a.fraction * a.activity_mbq * t_eff / math.log(2)
    decays = act / act.sum() * cumulated * 1e6 * 3600

    kernel = s_kernel(iso, act.shape, vox, a.method)
    part = convolve_slices(decays, kernel, range(rank, act.shape[2], size))
    if comm and size > 1:
        energy = np.zeros_like(part) if rank == 0 else None
        comm.Reduce(part, energy, op=MPI.SUM, root=0)
    else:
        energy = part
    if rank != 0:
        return

    mass_kg = float(np.prod(vox)) * 1e-3 * 1e-3  # mm3 -> cm3 -> kg at 1 g/cm3
    dose = energy / mass_kg  # Gy
    nib.save(nib.Nifti1Image(dose.astype(np.float32), img.affine), f"{a.prefix}_dose.nii.gz")

    vois = {"uptake": act >= 0.1 * act.max(), "all_voxels": np.ones(act.shape, bool)}
    if a.labels:
        lab = np.asarray(nib.load(a.labels).dataobj)
        if lab.size != act.size:
            p.error(f"labels {lab.shape} and activity map {act.shape} differ in size")
        lab = lab.reshape(act.shape)
        values = np.unique(lab[lab > 0])
        if not np.all(values == np.round(values)) or len(values) > 100:
            p.error("labels must be a label map: integers, at most 100 labels")
        vois = {f"label_{int(v)}": lab == v for v in values} | vois
    levels = np.linspace(0, dose.max(), 101)
    with open(f"{a.prefix}_dvh.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dose_Gy"] + [f"{name}_volume_pct" for name in vois])
        for d in levels:
            w.writerow([f"{d:.6g}"] + [f"{100 * np.mean(dose[m] >= d):.4f}" for m in vois.values()])

    emitted = float(decays.sum()) * sum(e for e, *_ in components(iso)) * MEV_J
    summary = {
        "application": "dosimetry",
        "input": a.activity,
        "isotope": a.isotope,
        "method": a.method,
        "physical_half_life_h": iso["t_half_h"],
        "effective_half_life_h": t_eff,
        "administered_MBq": a.activity_mbq,
        "fraction_in_volume": a.fraction,
        "cumulated_activity_MBq_h": cumulated,
        "total_decays": float(decays.sum()),
        "voxel_mm": vox.tolist(),
        "kernel_shape": list(kernel.shape),
        "energy_emitted_J": emitted,
        "energy_absorbed_J": float(energy.sum()),
        "absorbed_fraction_in_volume": float(energy.sum()) / emitted,
        "max_dose_Gy": float(dose.max()),
        "vois": {},
        "mpi_ranks": size,
    }
    for name, m in vois.items():
        d = dose[m]
        if d.size:
            summary["vois"][name] = {
                "voxels": int(m.sum()), "volume_ml": float(m.sum() * np.prod(vox) / 1000),
                "mean_Gy": float(d.mean()), "max_Gy": float(d.max()),
                "D98_Gy": float(np.percentile(d, 2)), "D50_Gy": float(np.percentile(d, 50)),
                "D2_Gy": float(np.percentile(d, 98)),
            }
    with open(f"{a.prefix}_summary.json", "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"dosimetry: {a.isotope} {a.activity_mbq} MBq, T_eff {t_eff} h, {size} rank(s): "
          f"max {summary['max_dose_Gy']:.3g} Gy")


if __name__ == "__main__":
    main()
