"""Stand-ins for what AWS would compute (ids, ARNs, endpoints) so the program can run offline.

This is Pulumi's own mock runtime (`pulumi.runtime.set_mocks`); these mocks only make up
outputs. Inputs, which the plan and the policies inspect, are exactly what the program sent.
"""
from __future__ import annotations

import base64
import hashlib

import pulumi

ACCOUNT = "123456789012"  # the documentation account id AWS uses in examples


def _h(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class EstateMocks(pulumi.runtime.Mocks):
    """`preview=True` behaves like `pulumi preview` of a new stack: a resource's computed
    outputs (ids, ARNs, endpoints) are unknown; only its inputs are known."""

    def __init__(self, preview: bool = False):
        super().__init__()
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if self.preview:
            return "", inputs
        typ, name = args.typ, args.name
        out = {**inputs, "arn": f"arn:aws:{typ.split(':')[1].split('/')[0]}::{ACCOUNT}:{name}"}
        rid = f"{name}-{_h(typ + name, 8)}"
        if typ == "aws:s3/bucket:Bucket":
            rid = inputs.get("bucket", rid)
            out |= {"arn": f"arn:aws:s3:::{rid}", "bucketRegionalDomainName": f"{rid}.s3.amazonaws.com"}
        elif typ == "aws:eks/cluster:Cluster":
            cname = inputs.get("name", name)
            out |= {"endpoint": f"https://{_h(cname, 32).upper()}.gr7.eks.amazonaws.com",
                    "certificateAuthority": {"data": base64.b64encode(b"mock-ca").decode()},
                    "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.amazonaws.com/id/{_h(cname, 32)}"}]}]}
        elif typ == "aws:kms/key:Key":
            out |= {"arn": f"arn:aws:kms::{ACCOUNT}:key/{_h(name, 32)}", "keyId": _h(name, 32)}
        elif typ == "aws:iam/role:Role":
            out |= {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "name": name}
        elif typ == "aws:backup/vault:Vault":
            out |= {"name": inputs.get("name", name)}
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            out |= {"nodeGroupName": inputs.get("nodeGroupName", name)}
        elif typ == "aws:route53/zone:Zone":
            rid = f"Z{_h(name, 12).upper()}"
            out |= {"zoneId": rid, "nameServers": [f"ns-{i}.awsdns-mock.net" for i in range(4)]}
        elif typ == "aws:route53/record:Record":
            out |= {"fqdn": inputs.get("name", name)}
        elif typ == "aws:acm/certificate:Certificate":
            domain = inputs.get("domainName", name)
            out |= {"domainValidationOptions": [{
                "domainName": domain, "resourceRecordName": f"_{_h(domain)}.{domain}.",
                "resourceRecordType": "CNAME", "resourceRecordValue": f"_{_h(domain + 'v')}.acm-validations.aws."}]}
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            out |= {"certificateArn": inputs.get("certificateArn")}
        elif typ == "aws:cloudfront/distribution:Distribution":
            out |= {"domainName": f"d{_h(name, 13)}.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}
        return rid, out

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/planner", "userId": "PLANNER",
                    "id": ACCOUNT}
        return {}
