#!/usr/bin/env python3
"""Baseline for `cryptopipe upload-s3`: boto3 upload_file with the default TransferConfig. Credentials, region and
endpoint from the environment (AWS_ENDPOINT_URL_S3).

    upload_boto3.py FILE BUCKET KEY
"""
import sys

import boto3


def main(path, bucket, key):
    boto3.client("s3").upload_file(path, bucket, key)


if __name__ == "__main__":
    main(*sys.argv[1:4])
