"""Print the failed and erroring tests of pytest JUnit XML reports, shortened, for the end of a
CI log: python scripts/junit_failures.py REPORT.xml..."""

import sys
from xml.etree import ElementTree

LINES_PER_TEST = 60


def failures(path):
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        for outcome in ("failure", "error"):
            for element in case.findall(outcome):
                name = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
                yield outcome, name, element.get("message", ""), element.text or ""


def main(paths):
    found = 0
    for path in paths:
        try:
            reported = list(failures(path))
        except (OSError, ElementTree.ParseError) as error:
            print("%s: no report (%s)" % (path, error))
            continue
        for outcome, name, message, text in reported:
            found += 1
            print("---- %s: %s (%s)" % (outcome.upper(), name, path))
            lines = text.rstrip().splitlines()
            if len(lines) > LINES_PER_TEST:
                print("  [... %d lines ...]" % (len(lines) - LINES_PER_TEST))
            print("\n".join(lines[-LINES_PER_TEST:]) or message)
    return found


if __name__ == "__main__":
    print("%d failed test(s)" % main(sys.argv[1:]))
