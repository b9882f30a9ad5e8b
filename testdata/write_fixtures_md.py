"""Renders testdata/FIXTURES.md from the facts make_fixtures.py collected (digests change with every run,
so the document is generated with them)."""

H = "registry.airlock.test"


def write(F, path):
    img = F["images"]
    fx = F["fixtures"]
    S, M, DL, L3 = img["single"], img["multi"], img["dockerlist"], img["layers3"]
    MP = M["platforms"]

    def sigtag(d):
        return d.replace(":", "-", 1) + ".sig"

    def sref(repo, d):
        return f"`{H}/{repo}:{sigtag(d)}`"

    PASS, FAIL = "**PASS**", "**FAIL**"
    P256 = "`-p keys/p256.pub`"
    conv = fx["dockerlist-converted"]
    cs = fx["cosign-save"]["entries"]
    bundle = fx.get("bundle-v3")

    rows = []

    def row(path, kind, refs, signed, expect):
        rows.append(f"| `{path}` | {kind} | {refs} | {signed} | {'<br>'.join(expect)} |")

    single_refs = f"`{H}/airlock/single:v1`<br>{sref('airlock/single', S['digest'])}"
    multi_sig_all = "<br>".join(sref("airlock/multi", d) for d in
                                [M["digest"]] + [MP[a]["digest"] for a in ("amd64", "arm64", "arm/v7")])

    row("layouts/signed-p256", "oci layout", single_refs,
        "single (`" + S["digest"] + "`) by **p256**, identity `" + H + "/airlock/single:v1`",
        [f"{P256} → {PASS} (1 platform, amd64)",
         f"no key → {PASS}, \"signatures not checked\"",
         f"{P256} `--signature-scope platform` / `all` → {PASS}",
         f"{P256} `--signed-identity match-repo-digest-or-exact` / `match-exact` / `match-repository` / "
         f"`exact-reference:{H}/airlock/single:v1` / `exact-repository:{H}/airlock/single` → {PASS}",
         f"{P256} `--signed-identity exact-reference:{H}/airlock/single:v2` → {FAIL} `identity-mismatch`",
         f"{P256} `--arch arm64` → {FAIL} `platform-missing` (the manifest's config says amd64)",
         f"**wrong-key (fixture 15):** `-p keys/other.pub` → {FAIL} `bad-signature`; likewise "
         f"`-p keys/p384.pub`, `keys/rsa.pub`, `keys/ed25519.pub`",
         f"`-p keys/other.pub -p keys/p256.pub` → {PASS} (any one key may accept)",
         f"{P256} `--rekor-pubkey keys/other.pub` → {FAIL} `bad-signature` (no `dev.sigstore.cosign/bundle` SET)"])
    for key, label in (("p384", "ECDSA P-384, signed with SHA-256 (skopeo)"),
                       ("rsa", "RSA 2048, PKCS#1 v1.5 SHA-256"), ("ed25519", "Ed25519 (pure)")):
        row(f"layouts/signed-{key}", "oci layout", single_refs,
            f"single by **{key}** ({label}), identity `{H}/airlock/single:v1`",
            [f"`-p keys/{key}.pub` → {PASS}", f"{P256} → {FAIL} `bad-signature`"])
    row("layouts/signed-layers3", "oci layout",
        f"`{H}/airlock/layers3:v1`<br>{sref('airlock/layers3', L3['digest'])}",
        f"layers3 (`{L3['digest']}`, 3 layers) by **p256**, identity `{H}/airlock/layers3:v1`",
        [f"{P256} → {PASS}", f"`-p keys/other.pub` → {FAIL} `bad-signature`"])
    row("layouts/signed-multi-all", "oci layout", f"`{H}/airlock/multi:v1`<br>" + multi_sig_all,
        f"multi: index **and** all 3 platform manifests, each by **p256** (skopeo `--all`), identity "
        f"`{H}/airlock/multi:v1` on all four",
        [f"{P256} → {PASS} (2 platforms: amd64, arm64)",
         f"{P256} `--signature-scope platform` → {PASS}; `--signature-scope all` → {PASS}",
         f"{P256} `--arch arm/v7` → {PASS} (1 platform); `--arch amd64,arm64,arm/v7` → {PASS} (3 platforms)",
         f"{P256} `--arch s390x` → {FAIL} `platform-missing` (no platform matches)",
         f"{P256} `--arch amd64,s390x` → {PASS} (s390x absent: a note); with `--require-platforms` → "
         f"{FAIL} `platform-missing`"])
    row("layouts/signed-multi-index-only", "oci layout",
        f"`{H}/airlock/multi:v1`<br>{sref('airlock/multi', M['digest'])}",
        "multi: **index only** by p256 (skopeo `--multi-arch index-only`)",
        [f"{P256} → {PASS} (scope auto: the signed index pins each child)",
         f"{P256} `--signature-scope platform` → {FAIL} `unsigned` (amd64 `{MP['amd64']['digest']}` and "
         f"arm64 `{MP['arm64']['digest']}` have no signature)",
         f"{P256} `--signature-scope all` → {FAIL} `unsigned` (same two platforms)"])
    row("layouts/signed-multi-per-platform", "oci layout",
        f"`{H}/airlock/multi:v1`<br>" + "<br>".join(sref("airlock/multi", MP[a]["digest"])
                                                   for a in ("amd64", "arm64", "arm/v7")),
        f"multi: each platform manifest by p256 (copied by digest with `--sign-identity {H}/airlock/multi:v1`); "
        "the index is **not** signed",
        [f"{P256} → {PASS}", f"{P256} `--signature-scope platform` → {PASS}",
         f"{P256} `--signature-scope all` → {FAIL} `unsigned` (the index `{M['digest']}`)"])
    row("dirs/dockerlist-signed", "dir (skopeo `dir:`)",
        "none (unnamed; name it with `--reference`)",
        f"dockerlist (Docker manifest list `{DL['digest']}`) + its 2 Docker schema2 manifests, all by p256 "
        f"(skopeo `--all`), identity `{H}/airlock/dockerlist:v1`; files `signature-1` (list) and "
        "`<hex>.signature-1` (per instance)",
        [f"{P256} `--reference {H}/airlock/dockerlist:v1` → {PASS} (2 platforms); `--signature-scope platform` "
         f"/ `all` → {PASS}",
         f"{P256} without `--reference` → {FAIL} `identity-mismatch` (unnamed image; hint names --reference)",
         f"{P256} `--reference {H}/airlock/other:v1` → {FAIL} `identity-mismatch`",
         f"no key → {PASS} (integrity)"])
    row("layouts/dockerlist-converted", "oci layout",
        f"`{H}/airlock/dockerlist:v1`<br>" + "<br>".join(f"`{k}`" for k in sorted(conv["sigs"])),
        "the signed dockerlist exported with skopeo **without** `--preserve-digests` (an OCI layout cannot hold "
        "the Docker list: skopeo converts it to an OCI index `" + conv["index_digest"] + "` with OCI manifests "
        f"amd64 `{conv['platforms']['amd64']}`, arm64 `{conv['platforms']['arm64']}`); the `.sig` entries are "
        "those of the original Docker digests",
        [f"{P256} → {FAIL} `unsigned` (no `.sig` named for the converted digests; the stale `.sig`s sign "
         f"`{DL['digest']}` etc.)",
         f"no key → {PASS} (the converted layout is internally consistent)"])
    row("layouts/cosign-signed", "oci layout", single_refs,
        f"single by **p256** with **cosign** 2.5 `sign --tlog-upload=false --sign-container-identity "
        f"{H}/airlock/single`: payload identity `{H}/airlock/single` (repository only, no tag), "
        "`optional: null`",
        [f"{P256} → {PASS} (default identity policy, repository-only extension §6.3)",
         f"{P256} `--signed-identity match-repo-digest-or-exact` → {FAIL} `identity-mismatch`",
         f"{P256} `--signed-identity match-exact` → {FAIL} `identity-mismatch`",
         f"{P256} `--signed-identity match-repository` → {PASS}; `--exact-repository {H}/airlock/single` → "
         f"{PASS}"])
    row("layouts/cosign-save", "oci layout (`cosign save --dir`)",
        "none: `index.json` entries carry only `kind` = `dev.cosignproject.cosign/image` "
        f"(`{cs[0]['digest']}`) and `dev.cosignproject.cosign/sigs` (`{cs[1]['digest']}`)",
        "the cosign-signed image (same signature as `cosign-signed`, identity "
        f"`{H}/airlock/single`)",
        [f"{P256} `--reference {H}/airlock/single:v1` → {PASS}",
         f"{P256} without `--reference` → {FAIL} `identity-mismatch` (no name; hint)",
         f"{P256} `--reference {H}/airlock/other:v1` → {FAIL} `identity-mismatch`",
         f"no key → {PASS} (1 image; the `sigs` entry is not an image)"])
    row("layouts/docker-io-identity", "oci layout",
        f"`docker.io/library/airlocktest:v1`<br>`docker.io/library/airlocktest:{sigtag(S['digest'])}`",
        "single by p256, identity `docker.io/library/airlocktest:v1`",
        [f"{P256} → {PASS}",
         f"{P256} `-f LIST` with the line `airlocktest:v1` (hangar: → `docker.io/library/airlocktest:v1`) → "
         f"{PASS}"])
    row("layouts/two-sigs-one-valid", "oci layout", single_refs,
        "single; its one `.sig` manifest has **two layers**: layer 0 by **other**, layer 1 by **p256** "
        f"(both identity `{H}/airlock/single:v1`)",
        [f"{P256} → {PASS} (layer 0 fails, layer 1 accepted)", f"`-p keys/other.pub` → {PASS}",
         f"`-p keys/p384.pub` → {FAIL} `bad-signature` (both candidates reported)"])
    if bundle:
        ref0 = bundle["referrers"][0]
        row("layouts/bundle-v3", "oci layout",
            f"`{H}/airlock/single:v1` only; the referrer manifest `{ref0['digest']}` (artifactType "
            f"`{ref0['artifactType']}`, `subject` = single) and its bundle blob `{ref0['layers'][0][1]}` are "
            "**unreferenced blobs** (as cosign v3 `save` leaves them)",
            "single by p256 with cosign 2.5 `attest --new-bundle-format --type https://sigstore.dev/cosign/sign/v1 "
            "--tlog-upload=false`: sigstore bundle v0.3, DSSE, statement `_type` "
            "`https://in-toto.io/Statement/v0.1`, subject sha256 = single's digest (subject `name` contains the "
            "generator's ephemeral `127.0.0.1:PORT`: not an identity, ignored); no tlog entry; no `.sig`",
            [f"{P256} → {PASS} (report: no identity bound)",
             f"{P256} `--signed-identity match-repo-digest-or-exact` → {FAIL} `identity-mismatch` (no identity "
             "to check)",
             f"`-p keys/other.pub` → {FAIL} `bad-signature`",
             f"{P256} `--rekor-pubkey keys/other.pub` → {FAIL} `bad-signature` (a tlog entry is then required; there is none)"])
        row("layouts/bundle-v3-tagged", "oci layout",
            f"as bundle-v3, plus the registry's referrers fallback tag as an entry "
            f"`{H}/airlock/single:{S['digest'].replace(':', '-', 1)}` → OCI index `{fx['bundle-v3-tagged']['fallback_index']}` "
            "whose one descriptor has `artifactType` `application/vnd.oci.empty.v1+json` (what cosign writes "
            "there) and points to the referrer manifest",
            "same bundle as bundle-v3",
            [f"{P256} → {PASS} (1 image: the `sha256-<hex>` entry is a referrers tag, not an image; the referrer "
             "is selected by its own artifactType, not the descriptor's)",
             f"{P256} `--signed-identity match-repo-digest-or-exact` → {FAIL} `identity-mismatch`"])
    row("dirs/multi-signed", "dir (skopeo `dir:`)", "none (`--reference`)",
        "multi copied from signed-multi-all: `manifest.json` = OCI index, `<hex>.manifest.json` per platform, "
        "`signature-1` (index) and `<hex>.signature-1` for each of the 3 platforms, all p256",
        [f"{P256} `--reference {H}/airlock/multi:v1` → {PASS} (2 platforms); `--signature-scope platform` / "
         f"`all` → {PASS}", f"{P256} without `--reference` → {FAIL} `identity-mismatch`"])
    row("dirs/single-signed", "dir (skopeo `dir:`)", "none (`--reference`)",
        "single copied from signed-p256: `manifest.json`, `signature-1` (p256)",
        [f"{P256} `--reference {H}/airlock/single:v1` → {PASS}",
         f"`-p keys/other.pub --reference {H}/airlock/single:v1` → {FAIL} `bad-signature`"])
    # negative
    row("layouts/unsigned", "oci layout", f"`{H}/airlock/single:v1`", "nothing",
        [f"{P256} → {FAIL} `unsigned`", f"no key → {PASS}"])
    row("(wrong-key)", "—", "use `layouts/signed-p256`", "p256",
        [f"`-p keys/other.pub` → {FAIL} `bad-signature`"])
    row("layouts/tampered-signature", "oci layout",
        f"`{H}/airlock/single:v1`<br>{sref('airlock/single', S['digest'])} → `{fx['tampered-signature']['sig_manifest']}`",
        "signed-p256 with the `dev.cosignproject.cosign/signature` annotation altered: last byte of the DER "
        "signature XOR 0x01 (still valid base64 and DER); `.sig` manifest rewritten, index.json updated",
        [f"{P256} → {FAIL} `bad-signature`", f"no key → {PASS}"])
    row("layouts/tampered-payload", "oci layout",
        f"`{H}/airlock/single:v1`<br>{sref('airlock/single', S['digest'])} → `{fx['tampered-payload']['sig_manifest']}`",
        "signed-p256 with the payload blob altered (`optional.timestamp` + 1, new blob "
        f"`{fx['tampered-payload']['payload']}`); layer descriptor, config `diff_ids`, `.sig` manifest and "
        "index.json updated so only the signature check fails",
        [f"{P256} → {FAIL} `bad-signature`", f"no key → {PASS}"])
    row("layouts/replayed-signature", "oci layout",
        f"`{H}/airlock/layers3:v1`<br>{sref('airlock/layers3', L3['digest'])}",
        f"layers3 (`{L3['digest']}`) carrying a **genuine p256 signature of single** (claims "
        f"`{fx['replayed-signature']['signed_digest']}`) made with identity `{H}/airlock/layers3:v1`",
        [f"{P256} → {FAIL} `bad-signature` (\"Signature for digest {S['digest']} does not match\"; the "
         "identity would match)", f"no key → {PASS}"])
    row("layouts/copied-repo", "oci layout",
        f"`{H}/mirror/single:v1`<br>{sref('mirror/single', S['digest'])}",
        f"single by p256 with identity `{H}/airlock/single:v1` (signed-p256's signature), named under `mirror/`",
        [f"{P256} → {FAIL} `identity-mismatch`",
         f"{P256} `--exact-repository {H}/airlock/single` → {PASS}",
         f"{P256} `--signed-identity remap:{H}/mirror={H}/airlock` → {PASS}"])
    row("layouts/corrupt-layer", "oci layout", single_refs,
        f"signed-p256 with one byte of layer `{fx['corrupt-layer']['blob']}` flipped (same size)",
        [f"{P256} → {FAIL} `corrupt` (digest)", f"no key → {FAIL} `corrupt`",
         f"{P256} `--blobs skip` → {PASS} (\"blobs not checked\")"])
    row("layouts/missing-blob", "oci layout", single_refs,
        f"signed-p256 with layer `{fx['missing-blob']['blob']}` deleted",
        [f"{P256} → {FAIL} `missing`", f"no key → {FAIL} `missing`"])
    row("layouts/size-mismatch", "oci layout", single_refs,
        f"signed-p256 with layer `{fx['size-mismatch']['blob']}` extended by 16 zero bytes (file name "
        "unchanged; descriptor size now 16 too small)",
        [f"{P256} → {FAIL} `corrupt` (size)", f"no key → {FAIL} `corrupt`"])
    row("layouts/multi-corrupt-arm64", "oci layout", f"`{H}/airlock/multi:v1`<br>" + multi_sig_all,
        f"signed-multi-all with one byte flipped in the **arm64** layer `{fx['multi-corrupt-arm64']['blob']}` "
        f"(arm64 manifest `{MP['arm64']['digest']}`)",
        [f"{P256} → {FAIL} `corrupt` (arm64 selected by default)",
         f"{P256} `--arch arm64` → {FAIL} `corrupt`",
         f"{P256} `--arch amd64` → image line {PASS} — but note SPEC §3: `verify-archive` also hashes every "
         "blob in the source, so the damaged arm64 blob is still reported and the run exits 1 (a test should "
         "assert the `PASS …multi:v1` line, and exit 1 with the blob named)",
         f"{P256} `--arch amd64 --blobs skip` → {PASS}, exit 0"])

    keys = F["keys"]
    key_rows = "\n".join(f"| `{k['pub']}` / `{k['key']}` | {n} | `{k['label'].strip('-').replace('BEGIN ', '')}` | "
                         f"`{k['sha256_spki']}` |" for n, k in keys.items())

    def platlines(i):
        return "\n".join(f"  - {a}: manifest `{p['digest']}`, config `{p['config']}`, layer(s) "
                         + ", ".join(f"`{x}`" for x in p["layers"]) for a, p in i["platforms"].items())

    sig_lines = []
    for name in sorted(fx):
        for r in fx[name].get("signatures", []):
            if "claims_digest" in r:
                sig_lines.append(f"| `{name}` | `{r['in']}` | `{r['claims_digest']}` | `{r['identity']}` | "
                                 f"{', '.join(r['verified_by']) or '**none**'} |")
            else:
                sig_lines.append(f"| `{name}` | `{r['in']}` (bundle, subject `{r['subject']}`) | "
                                 f"`sha256:{r['subject_sha256'][0]}` | (none; DSSE `{r['statement_type']}`) | "
                                 f"{', '.join(r['verified_by']) or '**none**'} |")
    integ = "\n".join(f"- `layouts/{n}`: " + ("; ".join(f"`{p}`" for p in v["integrity_problems"]) or "clean")
                      for n, v in sorted(fx.items()) if "integrity_problems" in v)
    peer = "\n".join(f"- {k}: {v}" for k, v in F.get("peer_check_skopeo_1_18", {}).items())
    dl_err = F.get("dockerlist_preserve_digests_error")

    doc = f"""# airlock test fixtures

Generated by `testdata/make-fixtures.sh` (with `make_fixtures.py`, `sigstore_key.py`, this file's renderer
`write_fixtures_md.py`). **Do not edit by hand: regenerate.** Machine-readable facts (every digest, every
signature and which key verifies it): `testdata/fixtures.json`.

Signatures are made by real tools: skopeo 1.18 (containers-image 5.34 sigstore signing) and cosign 2.5, against a
local CNCF distribution 2.8 registry, then exported with skopeo (`copy --all --preserve-digests … oci:LAYOUT:REF`,
and each `.sig` tag copied the same way as an image). Image content is reproducible (fixed mtimes, `gzip -n`);
signatures and `.sig` manifest digests change on every regeneration.

## How to read the expectations

- Paths are relative to `testdata/`. Command: `airlock verify-archive testdata/<path> [options]` (or `validate
  --source …`). Defaults: `--arch amd64,arm64 --os linux --signature-scope auto`, default identity policy
  (`matchRepoDigestOrExact` + the §6.3 extensions), `--blobs verify`.
- **PASS** = the image line is PASS and exit 0; **FAIL `kind`** = the image line is FAIL with (at least) a
  reason of that SPEC §3.6 kind, and exit 1. "no key" = integrity only ("signatures not checked").
- Every layout holds exactly **one image** (multi-arch images count once); `.sig` entries, `kind=…/sigs`
  entries, the `sha256-<hex>` referrers entry and referrer blobs are signatures, not images.
- All signatures are by `keys/p256` unless the table says otherwise. Identities never contain the generator's
  registry port (skopeo `--sign-identity`, cosign `--sign-container-identity`), except the bundle subject
  `name` (ignored by design).
- Passphrase of every private key: `keys/passphrase.txt` (`airlock-test`).

## Fixtures

| path | kind | image reference(s) inside (`org.opencontainers.image.ref.name`) | signed by / what | expected outcome |
|---|---|---|---|---|
{chr(10).join(rows)}

## Keys

| files | name | private-key PEM label | sha256 of SubjectPublicKeyInfo DER |
|---|---|---|---|
{key_rows}

`p256` and `other` come from `skopeo generate-sigstore-key` (ECDSA P-256); `p384`, `rsa` (2048) and `ed25519`
are generated with Python `cryptography` and encrypted in the sigstore format (scrypt N=65536 r=8 p=1,
NaCl secretbox over PKCS#8 DER) by `sigstore_key.py`; skopeo signs with all of them (ECDSA with SHA-256 whatever
the curve, RSA PKCS#1 v1.5 SHA-256, Ed25519 pure).

## Images (reproducible digests)

- `{S['reference']}` — OCI manifest `{S['digest']}` ({S['size']} bytes), linux/amd64, config `{S['config']}`,
  layer `{S['layers'][0]}`
- `{L3['reference']}` — OCI manifest `{L3['digest']}`, linux/amd64, config `{L3['config']}`, layers
  {', '.join(f'`{x}`' for x in L3['layers'])}
- `{M['reference']}` — OCI index `{M['digest']}` ({M['size']} bytes), 3 OCI manifests:
{platlines(M)}
- `{DL['reference']}` — Docker manifest list `{DL['digest']}` ({DL['size']} bytes), 2 Docker schema2 manifests
  (Docker config/layer media types):
{platlines(DL)}

Each platform's config has matching `architecture`/`os`/`variant` (arm/v7: `arm` + `v7`).

## Every signature in the fixtures (self-check at generation time, Python `cryptography`)

"verified by" = the keys under which the signature bytes verify over the exact payload (simple signing, SHA-256
for ECDSA/RSA) or over the DSSE PAE (bundles). The digest claim and identity are what the payload says.

| fixture | where | claims digest | identity (`docker-reference`) | verified by |
|---|---|---|---|---|
{chr(10).join(sig_lines)}

## Integrity self-check (every descriptor reachable from `index.json`, hashed at generation time)

{integ}

## Peer check (containers-image, skopeo 1.18 `--policy` with `sigstoreSigned` + `exactRepository`)

{peer}

## Notes

- Docker manifest list into an OCI layout with `--preserve-digests` is refused by skopeo:
  {('`' + dl_err[0] + '`') if dl_err else 'n/a'} — hence `dirs/dockerlist-signed` (keeps the digests) and the
  negative `layouts/dockerlist-converted`.
- `cosign save` (2.5) saves only the top-level signature and writes no ref names; name the image with
  `--reference {H}/airlock/single:v1`.
- Registry repositories used while generating were `127.0.0.1:PORT/fx/<fixture>/<image>`; nothing in the
  layouts refers to them except the bundle subject `name`.
"""
    with open(path, "w") as f:
        f.write(doc)
