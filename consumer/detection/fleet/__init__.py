"""The vectorised path: many devices' default-pipeline models as rows of shared arrays, stepped in waves."""
