"""Runs one S3 call with botocore (Debian's python3-botocore) and prints its result as JSON.

The end-to-end tests use it to look at an S3 server from outside the
daemon, with AWS's own client: path-style addressing, Signature Version 4.

Usage: /usr/bin/python3 s3_client.py ENDPOINT REGION ACCESS_KEY SECRET_KEY COMMAND ARGS...
  create-bucket BUCKET            prints {"status": <HTTP status>}
  list-uploads BUCKET             prints [{"key": ..., "upload_id": ...}, ...]
  list-parts BUCKET KEY UPLOAD_ID prints [part numbers], or {"error": "NoSuchUpload"}
"""
import json
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    endpoint, region, access_key, secret_key, command, *args = sys.argv[1:]
    client = botocore.session.get_session().create_client(
        's3', region_name=region, endpoint_url=endpoint, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
    try:
        if command == 'create-bucket':
            response = client.create_bucket(Bucket=args[0],
                                            CreateBucketConfiguration={'LocationConstraint': region})
            result = {'status': response['ResponseMetadata']['HTTPStatusCode']}
        elif command == 'list-uploads':
            uploads = client.list_multipart_uploads(Bucket=args[0]).get('Uploads', [])
            result = [{'key': upload['Key'], 'upload_id': upload['UploadId']} for upload in uploads]
        elif command == 'list-parts':
            parts = client.list_parts(Bucket=args[0], Key=args[1], UploadId=args[2]).get('Parts', [])
            result = [part['PartNumber'] for part in parts]
        else:
            raise SystemExit(f'unknown command {command}: expected create-bucket, list-uploads or list-parts')
    except ClientError as error:
        result = {'error': error.response['Error']['Code']}
    print(json.dumps(result))


if __name__ == '__main__':
    main()
