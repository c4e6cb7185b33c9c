"""Writes the sample inputs of the real tools' applications (dcm2niix, elastix, plastimatch,
mrtrix3) under apps/<tool>/samples/. Called by apps/make-samples with the mri-sim volume it
made (64x64x8, 3.75 x 3.75 x 5 mm). Deterministic: fixed seeds, fixed UIDs and dates.
Needs Debian's python3-numpy, python3-scipy, python3-nibabel and python3-pydicom."""

import gzip
import hashlib
import io
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

APPS = Path(__file__).resolve().parent


def samples(app):
    d = APPS / app / "samples"
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    return d


def save_nifti(data, affine, path, dtype):
    """A gzipped NIfTI-1 with no timestamp in the gzip header (same bytes every run)."""
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    raw = io.BytesIO()
    img.to_file_map(nib.Nifti1Image.make_file_map({"image": raw, "header": raw}))
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


# --- dcm2niix: a 4-slice MR series of 64x64 DICOM files --------------------------------


def dicom_series(volume, zooms):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    out = samples("dcm2niix")
    mr_storage = "1.2.840.10008.5.1.4.1.1.4"

    def uid(*parts):
        # 2.25.<128-bit integer> (a UUID-derived UID) from a hash of fixed strings: every run
        # writes the same UIDs
        digest = hashlib.sha256("/".join(["medgrid-sample-dcm2niix", *parts]).encode()).digest()
        return "2.25." + str(int.from_bytes(digest[:16], "big"))

    study, series, frame = uid("study"), uid("series"), uid("frame")
    slab = volume[:, :, 2:6].astype(np.float64)
    scaled = np.round(slab / slab.max() * 4000).astype(np.uint16)
    dx, dy, dz = (float(z) for z in zooms)
    nx, ny, nz = scaled.shape
    for k in range(nz):
        sop = uid("instance", str(k + 1))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = mr_storage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = uid("implementation")
        meta.ImplementationVersionName = "MEDGRID_SAMPLE"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.SOPClassUID = mr_storage
        ds.SOPInstanceUID = sop
        for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            setattr(ds, tag, "20260101")
        for tag in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"):
            setattr(ds, tag, "120000")
        ds.AccessionNumber = ""
        ds.Modality = "MR"
        ds.Manufacturer = "Synthetic phantom (Medgrid mri-sim)"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "SYNTHETIC PHANTOM - NOT A PATIENT"
        ds.SeriesDescription = "T1w spin echo (simulated)"
        ds.PatientName = "SYNTHETIC^PHANTOM"
        ds.PatientID = "MEDGRID-SAMPLE-0001"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.SliceThickness = f"{dz:g}"
        ds.RepetitionTime = "500"
        ds.EchoTime = "15"
        ds.MagneticFieldStrength = "1.5"
        ds.SpacingBetweenSlices = f"{dz:g}"
        ds.ProtocolName = "T1w_SE_synthetic"
        ds.FlipAngle = "90"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        x0, y0, z0 = -(nx - 1) * dx / 2, -(ny - 1) * dy / 2, -(nz - 1) * dz / 2
        ds.ImagePositionPatient = [f"{x0:g}", f"{y0:g}", f"{z0 + k * dz:g}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = frame
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{z0 + k * dz:g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.PixelSpacing = [f"{dy:g}", f"{dx:g}"]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = "2000"
        ds.WindowWidth = "4000"
        # rows run along y, columns along x
        ds.PixelData = np.ascontiguousarray(scaled[:, :, k].T).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        pydicom.dcmwrite(out / f"MR{k + 1:04d}.dcm", ds, write_like_original=False)


# --- elastix: a fixed volume and a rotated, shifted copy, with a rigid parameter file ---

ELASTIX_PARAMETERS = """\
// Rigid (Euler) registration of two images of one modality, mutual information, two
// resolutions (no downsampling across the few thick slices), a few hundred iterations.
(FixedInternalImagePixelType "float")
(MovingInternalImagePixelType "float")
(UseDirectionCosines "true")
(Registration "MultiResolutionRegistration")
(Interpolator "BSplineInterpolator")
(ResampleInterpolator "FinalBSplineInterpolator")
(Resampler "DefaultResampler")
(FixedImagePyramid "FixedSmoothingImagePyramid")
(MovingImagePyramid "MovingSmoothingImagePyramid")
(Optimizer "AdaptiveStochasticGradientDescent")
(Transform "EulerTransform")
(Metric "AdvancedMattesMutualInformation")
(AutomaticScalesEstimation "true")
(AutomaticTransformInitialization "true")
(AutomaticTransformInitializationMethod "CenterOfGravity")
(HowToCombineTransforms "Compose")
(NumberOfHistogramBins 32)
(NumberOfResolutions 2)
(ImagePyramidSchedule 2 2 1 1 1 1)
(MaximumNumberOfIterations 250)
(ImageSampler "RandomCoordinate")
(NumberOfSpatialSamples 3000)
(NewSamplesEveryIteration "true")
(BSplineInterpolationOrder 1)
(FinalBSplineInterpolationOrder 3)
(DefaultPixelValue 0)
(WriteResultImage "true")
(ResultImagePixelType "float")
(ResultImageFormat "nii.gz")
"""


def elastix_pair(volume, affine):
    out = samples("elastix")
    fixed = volume.astype(np.float32)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    # moving(x) = fixed(R x + t) about the volume centre, in mm: 6 degrees about z, a shift
    # of 7.5 mm and -5 mm in plane
    angle = np.deg2rad(6.0)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    shift_mm = np.array([7.5, -5.0, 0.0])
    s = np.diag(zooms)
    s_inv = np.diag(1 / zooms)
    matrix = s_inv @ rot @ s
    centre = (np.array(fixed.shape) - 1) / 2
    offset = centre - matrix @ centre + s_inv @ shift_mm
    moving = ndi.affine_transform(fixed, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    save_nifti(np.round(fixed), affine, out / "fixed_t1w.nii.gz", np.int16)
    save_nifti(np.round(moving), affine, out / "moving_t1w.nii.gz", np.int16)
    (out / "rigid_parameters.txt").write_text(ELASTIX_PARAMETERS)


# --- plastimatch: a planned and a delivered dose ------------------------------------------


def dose_pair():
    shape, spacing = (40, 40, 20), 2.5  # 100 x 100 x 50 mm

    def dose(shift_x_mm, scale):
        x, y, z = (np.arange(n) * spacing - (n - 1) * spacing / 2 for n in shape)
        x = x - shift_x_mm
        X, Y, Z = np.meshgrid(x, y, z, indexing="ij")

        def field(u, half_width, penumbra=3.0):
            # a flat field with error-function-like edges (80-20 penumbra of a few mm)
            return 0.5 * (np.tanh((u + half_width) / penumbra) - np.tanh((u - half_width) / penumbra))

        depth = np.exp(-0.04 * (Y + 50))  # attenuation along y (the beam axis)
        d = 2.0 * scale * field(X, 30) * field(Z, 15) * (0.4 + 0.6 * depth)
        # a boost to a small target near the centre
        d += 0.6 * scale * np.exp(-((X - 5) ** 2 + (Y + 5) ** 2 + Z ** 2) / (2 * 8.0 ** 2))
        return d.astype(np.float32)

    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = [-(n - 1) * spacing / 2 for n in shape]
    planned = dose(0.0, 1.0)
    delivered = dose(1.5, 1.02)  # 1.5 mm set-up error, 2 % output
    for app in ("plastimatch", "plastimatch-resample"):
        out = samples(app)
        save_nifti(planned, affine, out / "dose_planned.nii.gz", np.float32)
        if app == "plastimatch":
            save_nifti(delivered, affine, out / "dose_delivered.nii.gz", np.float32)


# --- mrtrix3: a diffusion-weighted volume with its gradient table --------------------------


def dwi():
    out = samples("mrtrix3")
    rng = np.random.default_rng(17)
    nx, ny, nz, voxel = 24, 24, 6, 2.5
    # 30 directions on a half sphere (Fibonacci spiral), after 2 b=0 volumes
    n = 30
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - i / n)  # z >= 0
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    dirs = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    bvecs = np.vstack([np.zeros((2, 3)), dirs])
    bvals = np.concatenate([[0, 0], np.full(n, 1000.0)])

    # tissue: isotropic "grey matter" (MD 0.8e-3), a band of fibres along x (FA ~0.7) and
    # a ring of fibres around the z axis, in "CSF" (MD 3e-3) outside a circle
    xs, ys = np.meshgrid(np.arange(nx) - (nx - 1) / 2, np.arange(ny) - (ny - 1) / 2, indexing="ij")
    radius = np.hypot(xs, ys)
    signal = np.zeros((nx, ny, nz, len(bvals)))
    s0 = 1000.0
    for ix in range(nx):
        for iy in range(ny):
            r = radius[ix, iy]
            if r > 11:
                tensor = np.eye(3) * 3.0e-3
                pd = 1.2
            elif abs(ys[ix, iy]) < 2.5:
                e1 = np.array([1.0, 0, 0])
                tensor = 1.7e-3 * np.outer(e1, e1) + 0.3e-3 * (np.eye(3) - np.outer(e1, e1))
                pd = 0.8
            elif 6 < r < 9:
                e1 = np.array([-ys[ix, iy], xs[ix, iy], 0.0]) / r
                tensor = 1.5e-3 * np.outer(e1, e1) + 0.35e-3 * (np.eye(3) - np.outer(e1, e1))
                pd = 0.8
            else:
                tensor = np.eye(3) * 0.8e-3
                pd = 1.0
            adc = np.einsum("ij,jk,ik->i", bvecs, tensor, bvecs)
            signal[ix, iy, :, :] = pd * s0 * np.exp(-bvals * adc)
    # Rician noise at SNR 40 on b=0
    sigma = s0 / 40
    noisy = np.hypot(signal + rng.normal(0, sigma, signal.shape), rng.normal(0, sigma, signal.shape))
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = [-(nx - 1) * voxel / 2, -(ny - 1) * voxel / 2, -(nz - 1) * voxel / 2]
    save_nifti(np.round(noisy), affine, out / "dwi.nii.gz", np.int16)
    # FSL format: bvecs 3 rows, bvals 1 row
    (out / "dwi.bvec").write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in bvecs.T) + "\n")
    (out / "dwi.bval").write_text(" ".join(f"{b:g}" for b in bvals) + "\n")


def main():
    mri = nib.load(sys.argv[1])
    volume = mri.get_fdata()
    dicom_series(volume, mri.header.get_zooms()[:3])
    elastix_pair(volume, mri.affine)
    dose_pair()
    dwi()
    for app in ("dcm2niix", "elastix", "plastimatch", "plastimatch-resample", "mrtrix3"):
        for f in sorted((APPS / app / "samples").iterdir()):
            print(f"{f.relative_to(APPS)}: {f.stat().st_size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
