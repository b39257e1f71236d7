"""DynamoDB on moto for the lifecycle property test (tests/aws.py)."""

from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    moto_reset,
    moto_server,
)
