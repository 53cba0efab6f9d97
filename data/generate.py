#!/usr/bin/env python3
"""Generates pff's sample data: small TM Forum style customer records.

    python3 data/generate.py            # writes data/train.jsonl, data/records.jsonl,
                                        # data/records-truth.jsonl, data/records/*.json
    pff validate data/train.jsonl --rules data/rule-templates.txt --rule-stats data/rules.txt

Deterministic (fixed seed). `train.jsonl` has a little natural noise so that mined
confidences are below 1; `records.jsonl` is clean except for the errors planted on purpose and
listed in `records-truth.jsonl`. `rules.txt` is `rule-templates.txt` with AnyBURL-style counts
recomputed on `train.jsonl` by pff itself.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONTEXTS = {
    "Postpaid": ("SPEC_POS", "pos", "BAS_ExternalId_Pospago", "Postpaid BA"),
    "Control": ("SPEC_CTRL", "controle", "BAS_ExternalId_Controle", "Control BA"),
    "Prepaid": ("SPEC_PRE", "pre", "BAS_ExternalId_Prepago", "Prepaid BA"),
}

# offering id -> (external id, name, contexts it is sold in)
CATALOGUE = {
    "PO_PLAN_POS_25GB": ("PLAN_POS_25GB", "Plano Pós 25GB", ["Postpaid"]),
    "PO_PLAN_POS_50GB": ("PLAN_POS_50GB", "Plano Pós 50GB", ["Postpaid"]),
    "PO_PLAN_CTRL_10GB": ("PLAN_CTRL_10GB", "Controle 10GB", ["Control"]),
    "PO_PLAN_PRE_DAILY": ("PLAN_PRE_DAILY", "Pré Diário", ["Prepaid"]),
    "PO_ROAMING_AM": ("ROAMING_AM", "Roaming Américas (30 dias, 2GB)", ["Postpaid", "Control"]),
    "PO_APPS_SOCIAL": ("APPS_SOCIAL", "Apps Sociais Ilimitados (WhatsApp, Instagram)",
                       ["Postpaid", "Control", "Prepaid"]),
    "PO_INSURANCE": ("INSURANCE", "Seguro Celular Roubo/Furto", ["Postpaid"]),
}
PLANS = {"Postpaid": ["PO_PLAN_POS_25GB", "PO_PLAN_POS_50GB"], "Control": ["PO_PLAN_CTRL_10GB"],
         "Prepaid": ["PO_PLAN_PRE_DAILY"]}
RESOURCES = [("LrsExtId_MSISDN", "RS_MSISDN"), ("LrsExtId_ICCID", "RS_ICCID")]


def record(rng, n, noise):
    cid = f"CUST{n:04d}"
    ext = str(100000 + n)
    status = rng.choices(["Active", "Suspended"], [9, 1])[0]
    ctx_used = rng.sample(list(CONTEXTS), rng.choice([1, 1, 2]))
    accounts, contracts = [], []
    for ctx in ctx_used:
        spec, _, bas, ba_name = CONTEXTS[ctx]
        ba = f"BA{n:04d}{ctx[:2].upper()}"
        accounts.append({
            "id": ba, "billingAccountSpecExternalId": bas,
            "name": [{"name": ba_name if rng.random() > noise else "-"}],
            "status": [{"status": f"BillingAccount{status}"}],
        })
        for k in range(rng.randint(1, 2)):
            kid = f"K{n:04d}{ctx[:2].upper()}{k}"
            plan = rng.choice(PLANS[ctx])
            addons = [o for o, (_, _, cs) in CATALOGUE.items() if ctx in cs and not o.startswith("PO_PLAN")]
            offers = [plan] + rng.sample(addons, rng.randint(0, len(addons)))
            products = []
            for j, po in enumerate(offers):
                pext, pname, _ = CATALOGUE[po]
                if rng.random() < noise:
                    pname = "-"
                products.append({
                    "id": f"{kid}P{j}", "productOfferingId": po, "productOfferingExternalId": pext,
                    "name": pname, "status": [{"status": f"Product{status}"}],
                    "billingAccount": {"id": ba},
                })
            resources = []
            for rext, rspec in RESOURCES:
                if rng.random() < noise:
                    rspec = rng.choice(RESOURCES)[1]
                resources.append({"resourceSpecificationExternalId": rext, "resourceSpecificationId": rspec,
                                  "value": f"55{rng.randint(10**9, 10**10 - 1)}" if rext.endswith("MSISDN")
                                  else f"8955{rng.randint(10**11, 10**12 - 1)}"})
            pctx = ctx if rng.random() > noise else rng.choice(list(CONTEXTS))
            contracts.append({
                "id": kid, "paymentContext": pctx, "contractSpecification": {"id": spec},
                "characteristic": [{"charSpecExternalId": "clientCategory",
                                    "value": [{"value": CONTEXTS[ctx][1]}]}],
                "status": [{"status": f"Contract{status}"}],
                "product": products, "resource": resources,
                "relatedPartyInteractionRole": [{"interactionRole": "LegalContractHolder",
                                                 "partyRoleId": cid, "partyRoleExternalId": ext}],
            })
    return {
        "id": cid, "externalId": ext, "status": [{"status": f"Customer{status}"}],
        "characteristic": [{"charSpecExternalId": "clientType", "value": [{"value": rng.choice(["PF", "PJ"])}]}],
        "account": accounts, "contract": contracts,
    }


def plant(rng, rec, kind):
    """Corrupts one field; returns a description of the change."""
    contract = rng.choice(rec["contract"])
    if kind == "payment_context_flip":
        old = contract["paymentContext"]
        contract["paymentContext"] = rng.choice([c for c in CONTEXTS if c != old])
        return {"node": contract["id"], "key": "paymentContext", "old": old, "new": contract["paymentContext"]}
    if kind == "offering_name_swap":
        p = contract["product"][0]
        old = p["name"]
        p["name"] = rng.choice([v[1] for k, v in CATALOGUE.items() if v[1] != old])
        return {"node": p["id"], "key": "name", "old": old, "new": p["name"]}
    if kind == "resource_spec_swap":
        r = contract["resource"][0]
        old = r["resourceSpecificationId"]
        r["resourceSpecificationId"] = "RS_ICCID"
        return {"node": f"{contract['id']}/resource[0]", "key": "resourceSpecificationId", "old": old,
                "new": "RS_ICCID"}
    if kind == "holder_ref_mismatch":
        role = contract["relatedPartyInteractionRole"][0]
        old = role["partyRoleExternalId"]
        role["partyRoleExternalId"] = str(int(old) + 7)
        return {"node": f"{contract['id']}/relatedPartyInteractionRole[0]", "key": "partyRoleExternalId",
                "old": old, "new": role["partyRoleExternalId"]}
    if kind == "missing_payment_context":
        old = contract.pop("paymentContext")
        return {"node": contract["id"], "key": "paymentContext", "old": old, "new": None}
    raise ValueError(kind)


def main():
    rng = random.Random(20261125)
    train = [record(rng, n, noise=0.03) for n in range(60)]
    records = [record(rng, 1000 + n, noise=0.0) for n in range(12)]
    kinds = ["payment_context_flip", "offering_name_swap", "resource_spec_swap", "holder_ref_mismatch",
             "missing_payment_context"]
    truth = []
    for i, rec in enumerate(records):
        changes = [plant(rng, rec, kinds[i % len(kinds)])] if i % 2 == 1 else []
        truth.append({"record": i, "id": rec["id"], "corruptions": changes})
    write(HERE / "train.jsonl", train)
    write(HERE / "records.jsonl", records)
    write(HERE / "records-truth.jsonl", truth)
    # One file per record: the tasks of manifests/smoke.yaml.
    (HERE / "records").mkdir(exist_ok=True)
    for rec in records:
        with open(HERE / "records" / f"{rec['id']}.json", "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False, indent=1)
            f.write("\n")


def write(path, items):
    with open(path, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
