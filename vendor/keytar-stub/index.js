'use strict';
// keytar is only required lazily by @forge/cli-shared's credential store (forge login); @forge/lint never calls it.
const unavailable = async () => {
  throw new Error('keytar is stubbed in this project (vendor/keytar-stub): no OS keychain access');
};
module.exports = {
  getPassword: unavailable,
  setPassword: unavailable,
  deletePassword: unavailable,
  findPassword: unavailable,
  findCredentials: unavailable,
};
