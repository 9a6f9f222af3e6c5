"""The test suite: integration behaviour against emulators over real HTTP, pure logic in unit tests."""
