#!/bin/sh
# BROWSER for the concurrency tests: counts launches in $BROWSER_COUNT_FILE, then either signs in
# with the scripted browser ($BROWSER_SIGN_IN=1) or does nothing, like a person who is away.
echo "launch" >> "$BROWSER_COUNT_FILE"
if [ "${BROWSER_SIGN_IN:-0}" = 1 ]; then exec "$BUN_PATH" "$SCRIPTED_BROWSER" "$1"; fi
exit 0
