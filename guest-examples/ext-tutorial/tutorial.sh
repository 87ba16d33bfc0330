#!/bin/sh
# The tutorial's curl session (docs/extensions.md): a capability for the
# estate owner, the Greeter installed for the region, one greeting.
#   DISPATCHER_URL  the host's Dispatcher URL (default http://127.0.0.1:9000/Dispatcher/)
#   REGION          the region (default "Harbor Island")
#   COMPONENT       the built extension (default ../out/ext-tutorial.wasm)
set -eu
URL="${DISPATCHER_URL:-http://127.0.0.1:9000/Dispatcher/}"
REGION="${REGION:-Harbor Island}"
COMPONENT="${COMPONENT:-$(dirname "$0")/../out/ext-tutorial.wasm}"
# The protocol's HashedPasswd: the password's MD5, lowercase hex.
HASH=$(printf %s "${PASSWORD:-password}" | md5sum | cut -d' ' -f1)

post() { curl -sS --fail -H 'Content-Type: application/json' --data-binary @- "$URL"; }

# 1. A capability whose DomainList names Extensions (to install) and Greeter (to call).
CAP=$(printf '{"$type":"Dispatcher.Messages.CreateCapabilityRequest","FirstName":"Ada","LastName":"Lovelace","HashedPasswd":"%s","LifeSpan":300,"DomainList":["Dispatcher","Extensions","Greeter"],"_Scene":"%s"}' \
    "$HASH" "$REGION" | post | sed -n 's/.*"Capability":"\([^"]*\)".*/\1/p')
[ -n "$CAP" ] || { echo "no capability: wrong password, or not the estate owner?" >&2; exit 1; }

# 2. Install it for the region: the component as base64, the storage grant.
printf '{"$type":"Extensions.Messages.InstallExtensionRequest","_Domain":"Extensions","_Capability":"%s","_Scene":"%s","Scope":"%s","Grants":["storage"],"Component":"%s"}' \
    "$CAP" "$REGION" "$REGION" "$(base64 -w0 "$COMPONENT")" | post
echo

# 3. Greet: a request of the new domain, like any other.
printf '{"$type":"Greeter.Messages.GreetRequest","_Domain":"Greeter","_Capability":"%s","_Scene":"%s","Name":"curl"}' \
    "$CAP" "$REGION" | post
echo
