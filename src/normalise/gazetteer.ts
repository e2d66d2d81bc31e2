/**
 * The place names locations.ts knows: states and territories by name, code and adjective,
 * the capital cities, and well-known regions and regional cities, each with the state or
 * territory it lies in. A name of several states ("Northern Australia") gives them all.
 * Kept to names that are unambiguous in Australia; a name not here rejects (docs/ingest.md),
 * so adding one is how a new place printed by a site gets read.
 */
import type { z } from 'zod';
import type { Location } from '../domain/grant.js';

type Code = z.infer<typeof Location>;

const BY_STATE: Record<Code, string[]> = {
  ACT: ['act', 'australian capital territory', 'canberra', 'canberra region'],
  NSW: [
    'nsw', 'new south wales', 'sydney', 'western sydney', 'south western sydney', 'south west sydney', 'greater western sydney', 'central coast', 'hunter', 'hunter valley',
    'newcastle', 'wollongong', 'illawarra', 'riverina', 'new england', 'blue mountains', 'south coast', 'north coast', 'mid north coast', 'northern rivers', 'far west nsw',
    'central west', 'orana', 'snowy mountains', 'wagga wagga', 'albury', 'dubbo', 'tamworth', 'orange', 'bathurst', 'lismore', 'broken hill', 'coffs harbour', 'port macquarie',
    'shoalhaven', 'southern highlands', 'lord howe island',
  ],
  NT: ['nt', 'northern territory', 'darwin', 'alice springs', 'katherine', 'tennant creek', 'arnhem land', 'top end', 'central australia'],
  QLD: [
    'qld', 'queensland', 'brisbane', 'gold coast', 'sunshine coast', 'townsville', 'cairns', 'toowoomba', 'mackay', 'rockhampton', 'bundaberg', 'far north queensland',
    'north queensland', 'central queensland', 'darling downs', 'wide bay', 'fraser coast', 'whitsundays', 'outback queensland', 'ipswich', 'logan', 'moreton bay',
    'torres strait', 'cape york', 'south east queensland', 'seq',
  ],
  SA: [
    'sa', 'south australia', 'adelaide', 'barossa', 'fleurieu', 'fleurieu peninsula', 'eyre peninsula', 'riverland', 'limestone coast', 'yorke peninsula', 'spencer gulf',
    'upper spencer gulf', 'whyalla', 'port augusta', 'port pirie', 'mount gambier', 'kangaroo island', 'adelaide hills', 'murraylands',
  ],
  TAS: ['tas', 'tasmania', 'hobart', 'launceston', 'devonport', 'burnie'],
  VIC: [
    'vic', 'victoria', 'melbourne', 'geelong', 'ballarat', 'bendigo', 'gippsland', 'mornington peninsula', 'shepparton', 'mildura', 'wodonga', 'warrnambool', 'latrobe valley',
    'grampians', 'goulburn valley', 'loddon mallee', 'barwon', 'wimmera', 'surf coast', 'yarra ranges', 'macedon ranges', 'high country', 'great ocean road',
  ],
  WA: [
    'wa', 'western australia', 'perth', 'pilbara', 'kimberley', 'goldfields', 'wheatbelt', 'great southern', 'peel', 'gascoyne', 'bunbury', 'geraldton', 'kalgoorlie',
    'albany', 'broome', 'karratha', 'port hedland', 'esperance',
  ],
  national: [
    'national', 'nationwide', 'nationally', 'australia-wide', 'australia wide', 'australia', 'all states', 'all states and territories', 'all of australia', 'all australian states and territories',
    'across australia', 'throughout australia', 'commonwealth',
  ],
};

/** Adjectives and several-state names. */
const OTHER: Record<string, Code[]> = {
  victorian: ['VIC'], queensland: ['QLD'], queenslander: ['QLD'], tasmanian: ['TAS'], 'south australian': ['SA'], 'western australian': ['WA'],
  territory: ['NT'], territorian: ['NT'], australian: ['national'],
  'northern australia': ['NT', 'QLD', 'WA'],
};

/** Every known name, lower case, with its codes. */
export const PLACES: ReadonlyMap<string, readonly Code[]> = new Map<string, Code[]>([
  ...Object.entries(BY_STATE).flatMap(([code, names]) => names.map((name): [string, Code[]] => [name, [code as Code]])),
  ...Object.entries(OTHER),
]);

/**
 * Words that qualify a place without naming another: "Regional Victoria", "Metropolitan
 * Melbourne", "Greater Sydney", "remote areas of the Northern Territory", "City of Sydney
 * local government area". Dropped from the ends of a name that is not known as printed.
 */
export const QUALIFIERS = new Set(
  (
    'regional rural remote metropolitan metro greater outer inner north south east west northern southern eastern western central far upper lower ' +
    'north-east north-west south-east south-west northeast northwest southeast southwest mid ' +
    'area areas part parts of the in and across throughout all communities community town towns city cities shire shires council councils ' +
    'local government lga lgas region regions district districts suburb suburbs suburban coastal wide statewide state-wide state whole entire ' +
    'only based located within eligible applicants organisations organizations groups projects businesses residents people anywhere any'
  ).split(' '),
);
