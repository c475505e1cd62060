#!/usr/bin/env bash
# Fails the job after the reports were published: 1 when the gate failed, 2 when picklegate
# could not run.
set -euo pipefail

case ${EXIT_CODE:-} in
  0) echo "picklegate: gate passed" ;;
  1) echo "::error title=picklegate::the gate failed: see the annotations, the job summary and the reports"; exit 1 ;;
  "") echo "::error title=picklegate::the scan step did not finish"; exit 2 ;;
  *) echo "::error title=picklegate::picklegate could not run (exit $EXIT_CODE); see the scan step's log"; exit "$EXIT_CODE" ;;
esac
