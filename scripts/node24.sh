# Sourced by the other scripts: puts Node >= 24.9 first on PATH. NestJS 12 and
# MikroORM 7 are ESM-only and jest needs Node >= 24.9 to load them; where the
# system node is older, npx fetches Node 24 from the npm registry once.
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>24||(a===24&&b>=9)?0:1)'
}
if ! node_ok; then
  NODE24_BIN="$(dirname "$(npx -y node@24 -p process.execPath)")"
  export PATH="$NODE24_BIN:$PATH"
fi
node_ok || { echo "Node.js >= 24.9 is required (found $(node --version 2>/dev/null || echo none))" >&2; exit 1; }
