"""Translate template.yaml into the plain CloudFormation that `sam deploy` would create.

cfn-lint on the SAM template checks the SAM resources' properties, but not every rule on what
they become (the functions' roles and policies, the event source mappings, the schedules'
roles); `make lint` lints this output too. Offline, as cfn-lint's own transform runs: local
CodeUris are replaced with a placeholder S3 location, and no managed policy is looked up.

usage: python infra/samtranslate.py template.yaml > translated.json
"""

import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator


def main(path):
    template, matches = decode(path)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        sys.exit(1)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://placeholder-bucket/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(
        sam_template=template, parameter_values={}
    )
    json.dump(translated, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
