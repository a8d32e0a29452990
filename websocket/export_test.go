package websocket

// AcceptKeyForTest is acceptKey, for the tests of package websocket_test.
var AcceptKeyForTest = acceptKey
