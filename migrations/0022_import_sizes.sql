-- What an import will bring, once the importer knows it (a URL's length, an S3 prefix's
-- listing; a DICOMweb study's is not known beforehand): progress shows against it.
ALTER TABLE imports ADD COLUMN expected_files bigint, ADD COLUMN expected_bytes bigint;
