// The app's pages, in one list: the top bar shows them all; a phone shows the first
// PHONE_TABS - 1 as a bottom tab bar and the rest under "More" once there are too many.
// Add a page here (with an icon from ICONS) and both navigations have it.

export const NAV_ITEMS = [
  { id: 'search', href: '/', label: 'Search', icon: 'search' },
  { id: 'people', href: '/people', label: 'People', icon: 'people' },
  { id: 'albums', href: '/albums', label: 'Albums', icon: 'album' },
  { id: 'places', href: '/places', label: 'Places', icon: 'place' },
  { id: 'map', href: '/map', label: 'Map', icon: 'map' },
  { id: 'years', href: '/years', label: 'Years', icon: 'calendar' },
  { id: 'duplicates', href: '/duplicates', label: 'Duplicates', icon: 'duplicates' },
  { id: 'folders', href: '/folders', label: 'Folders', icon: 'folder' },
  { id: 'account', href: '/account', label: 'Account', icon: 'account' },
];

export const PHONE_TABS = 5;

// Tabs of the bottom bar: every item when they fit, else the first ones and "More".
export function phoneTabs(items = NAV_ITEMS, max = PHONE_TABS) {
  if (items.length <= max) return { tabs: items, more: [] };
  return { tabs: items.slice(0, max - 1), more: items.slice(max - 1) };
}

// 24×24 outline icons (SVG path data), drawn with currentColor.
export const ICONS = {
  search: 'M10.5 4a6.5 6.5 0 1 0 4.02 11.6l4.44 4.44 1.06-1.06-4.44-4.44A6.5 6.5 0 0 0 10.5 4Zm0 1.5a5 5 0 1 1 0 10 5 5 0 0 1 0-10Z',
  people: 'M9 5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7Zm0 1.5a2 2 0 1 1 0 4 2 2 0 0 1 0-4ZM16.5 7a2.75 2.75 0 1 0 0 5.5 2.75 2.75 0 0 0 0-5.5Zm0 1.5a1.25 1.25 0 1 1 0 2.5 1.25 1.25 0 0 1 0-2.5ZM9 13c-3.3 0-6 1.8-6 4.5V19h12v-1.5C15 14.8 12.3 13 9 13Zm0 1.5c2.5 0 4.3 1.2 4.5 3h-9c.2-1.8 2-3 4.5-3Zm7.5-.5c-.6 0-1.1.1-1.6.2.4.4.8.8 1 1.3h.6c1.9 0 3.3.8 3.5 2H17V19h4.5v-1.5c0-2-2.2-3.5-5-3.5Z',
  place: 'M12 3a6 6 0 0 0-6 6c0 4.5 6 12 6 12s6-7.5 6-12a6 6 0 0 0-6-6Zm0 1.5A4.5 4.5 0 0 1 16.5 9c0 3-3.3 7.8-4.5 9.4C10.8 16.8 7.5 12 7.5 9A4.5 4.5 0 0 1 12 4.5ZM12 7a2 2 0 1 0 0 4 2 2 0 0 0 0-4Z',
  calendar: 'M7 3v2H5.5A1.5 1.5 0 0 0 4 6.5v12A1.5 1.5 0 0 0 5.5 20h13a1.5 1.5 0 0 0 1.5-1.5v-12A1.5 1.5 0 0 0 18.5 5H17V3h-1.5v2h-7V3H7ZM5.5 9.5h13v9h-13v-9Z',
  folder: 'M3.5 5A1.5 1.5 0 0 0 2 6.5v11A1.5 1.5 0 0 0 3.5 19h17a1.5 1.5 0 0 0 1.5-1.5v-9A1.5 1.5 0 0 0 20.5 7H12l-2-2H3.5Zm0 1.5h5.9l2 2h9.1v9h-17v-11Z',
  account: 'M12 4a4 4 0 1 0 0 8 4 4 0 0 0 0-8Zm0 1.5a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5ZM12 13.5c-4 0-7 2-7 4.8V20h14v-1.7c0-2.8-3-4.8-7-4.8Zm0 1.5c3 0 5.3 1.3 5.5 3.5h-11C6.7 16.3 9 15 12 15Z',
  map: 'M9 3.9 3 5.9v14.2l6-2 6 2 6-2V3.9l-6 2-6-2Zm-.75 2.1v10.9l-3.75 1.25V7l3.75-1Zm1.5 0 4.5 1.5v10.9l-4.5-1.5V6Zm10.75-.9v11.1l-3.75 1.25V6.4l3.75-1.3Z',
  album: 'M4.5 4A1.5 1.5 0 0 0 3 5.5v13A1.5 1.5 0 0 0 4.5 20h15a1.5 1.5 0 0 0 1.5-1.5v-13A1.5 1.5 0 0 0 19.5 4h-15Zm0 1.5h15v8.4l-3.7-3.7-4.3 4.3-2.5-2.5-4.5 4.5V5.5Zm4 1.5a2 2 0 1 0 0 4 2 2 0 0 0 0-4Z',
  duplicates: 'M8 3.5A1.5 1.5 0 0 0 6.5 5v10A1.5 1.5 0 0 0 8 16.5h11a1.5 1.5 0 0 0 1.5-1.5V5A1.5 1.5 0 0 0 19 3.5H8ZM8 5h11v10H8V5ZM3.5 8v11A1.5 1.5 0 0 0 5 20.5h11V19H5V8H3.5Z',
  more: 'M5 10.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3Zm7 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3Zm7 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3Z',
  generic: 'M5 5h14v14H5z',
};
