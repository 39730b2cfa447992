// Regenerates amplitude_mixpanel_import.json: what mixpanel-import's Amplitude transform (vendor/amplitude.js, the
// reference README's Amplitude table compares with) makes of each record in amplitude_records.json, with the
// options it has by default (vendorOpts {}): events (recordType "event"), user profiles ("user"), groups ("group").
//
//   git -C <mixpanel-import clone> show 18d51b80be72fcacbd9409a383e48763a8691b89:vendor/amplitude.js > /tmp/amplitude.js
//   npm ci --prefix bench   # dayjs and murmurhash, which that file requires
//   NODE_PATH=bench/node_modules node tests/functional/reference/amplitude_mixpanel_import.cjs /tmp/amplitude.js
const fs = require("fs");
const path = require("path");
const { ampEventsToMp, ampUserToMp, ampGroupToMp } = require(path.resolve(process.argv[2]));

const records = JSON.parse(fs.readFileSync(path.join(__dirname, "amplitude_records.json"), "utf8"));
const copy = (record) => JSON.parse(JSON.stringify(record)); // the transforms delete from what they are given
const [events, users, groups] = [ampEventsToMp({}), ampUserToMp({}), ampGroupToMp({})];
const reference = {
	source: "ak--47/mixpanel-import@18d51b80be72fcacbd9409a383e48763a8691b89 vendor/amplitude.js",
	events: records.map((record) => events(copy(record))),
	users: records.map((record) => users(copy(record))),
	groups: records.map((record) => groups(copy(record))),
};
fs.writeFileSync(path.join(__dirname, "amplitude_mixpanel_import.json"), JSON.stringify(reference, null, "\t") + "\n");
